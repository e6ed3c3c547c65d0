//! The table of `meshctl proxy-status` and the paragraphs below it.

use std::collections::BTreeMap;

use mesh_api::debug::{AdsProtocol, TypeSyncStatus};

use super::*;

fn type_status(state: SyncState, sent: Option<&str>, acked: Option<&str>) -> TypeSyncStatus {
    TypeSyncStatus {
        state,
        sent_version: sent.map(str::to_string),
        sent_nonce: sent.map(|_| "3".to_string()),
        acked_version: acked.map(str::to_string),
        error: None,
        nacked_at: None,
        resources: 1,
    }
}

fn proxy(types: BTreeMap<DiscoveryService, TypeSyncStatus>) -> ProxySyncStatus {
    ProxySyncStatus {
        proxy: "sidecar~10.0.0.2~client-0.e2e~e2e.svc.cluster.local".to_string(),
        name: "client-0.e2e".to_string(),
        connection: "client-0.e2e-1".to_string(),
        connected_at: "2026-11-25T18:13:41Z".to_string(),
        protocol: AdsProtocol::Sotw,
        control_plane_version: "0.1.0".to_string(),
        config_version: 7,
        types,
    }
}

#[test]
fn nacks_are_listed_below_the_table_with_envoys_error() {
    let synced = type_status(SyncState::Synced, Some("7"), Some("7"));
    let rds = TypeSyncStatus {
        error: Some("regex '^(a|b){20}$' RE2 program size of 182 > max program size of 100".into()),
        ..type_status(SyncState::Nacked, Some("8"), Some("7"))
    };
    let p = proxy(BTreeMap::from([
        (DiscoveryService::Cds, synced.clone()),
        (DiscoveryService::Lds, synced),
        (
            DiscoveryService::Eds,
            type_status(SyncState::NotSent, None, None),
        ),
        (DiscoveryService::Rds, rds),
    ]));
    let text = render(&[&p], "127.0.0.1:15014");
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("NAME          CDS     LDS     EDS       RDS     PROTOCOL"),
        "{text}"
    );
    let row = lines.next().unwrap();
    assert!(row.contains("SYNCED  SYNCED  NOT SENT  NACKED"), "{text}");
    assert!(row.ends_with("0.1.0 (config 7)"), "{text}");
    assert!(
        text.contains(
            "NACKED  client-0.e2e RDS: the proxy rejected version 8 and keeps serving version 7"
        ),
        "{text}"
    );
    assert!(
        text.contains("see:    meshctl proxy-config routes client-0.e2e"),
        "{text}"
    );
    assert!(text.contains("program size of 182"), "{text}");
}

#[test]
fn stale_types_say_what_was_sent_and_what_was_acked() {
    let p = proxy(BTreeMap::from([(
        DiscoveryService::Eds,
        type_status(SyncState::Stale, Some("9"), Some("8")),
    )]));
    let text = render(&[&p], "addr");
    assert!(
        text.contains(
            "STALE   client-0.e2e EDS: sent version 9 (nonce 3), the proxy has ACKed only 8"
        ),
        "{text}"
    );
}

#[test]
fn types_the_control_plane_did_not_report_show_as_unknown() {
    let text = render(&[&proxy(BTreeMap::new())], "addr");
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|row| row.starts_with("client-0.e2e  UNKNOWN  UNKNOWN")),
        "{text}"
    );
    assert!(render(&[], "addr").contains("no proxies are connected to the control plane at addr"));
}
