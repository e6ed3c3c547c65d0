//! The wire form of the debug types: the JSON `docs/control-plane.md` shows parses,
//! and fields that are not set stay off the wire, as they always have.

use serde_json::json;

use super::*;
use crate::model::{Protocol, Resolution, TargetPort};

#[test]
fn the_documented_syncz_entry_parses() {
    let entry = json!({
        "proxy": "sidecar~10.0.0.7~productpage-v1-0.bookinfo~bookinfo.svc.cluster.local",
        "name": "productpage-v1-0.bookinfo",
        "connection": "productpage-v1-0.bookinfo-3",
        "connected_at": "2026-11-25T18:13:41Z",
        "protocol": "sotw",
        "control_plane_version": "0.1.0",
        "config_version": 7,
        "types": {
            "CDS": {"state": "SYNCED", "sent_version": "7-3f2a", "sent_nonce": "41",
                    "acked_version": "7-3f2a", "error": null, "resources": 12},
            "EDS": {"state": "STALE", "sent_version": "7-0c1d", "sent_nonce": "44",
                    "acked_version": "6-9e8f", "error": null, "resources": 12},
            "LDS": {"state": "NACKED", "sent_version": "7-77aa", "sent_nonce": "42",
                    "acked_version": "5-12ab", "error": "Error adding/updating listener(s)",
                    "nacked_at": "2026-11-25T18:14:02Z", "resources": 5},
            "RDS": {"state": "NOT_SENT", "sent_version": null, "sent_nonce": null,
                    "acked_version": null, "error": null, "resources": 0}
        }
    });
    let status: ProxySyncStatus = serde_json::from_value(entry.clone()).expect("parses");
    assert_eq!(status.protocol, AdsProtocol::Sotw);
    let lds = &status.types[&DiscoveryService::Lds];
    assert_eq!(lds.state, SyncState::Nacked);
    assert_eq!(lds.nacked_at.as_deref(), Some("2026-11-25T18:14:02Z"));
    assert_eq!(
        status.types[&DiscoveryService::Rds].state.label(),
        "NOT SENT"
    );
    // `nacked_at` only when NACKED; everything else always, `null` when unset.
    assert_eq!(serde_json::to_value(&status).expect("serializes"), entry);
}

#[test]
fn unset_match_and_action_fields_stay_off_the_wire() {
    assert_eq!(wire(&RouteMatchView::default()), json!({}));
    assert_eq!(wire(&FilterChainMatchView::default()), json!({}));
    let prefix = RouteMatchView {
        path: Some(PathMatchView::Prefix("/".into())),
        headers: vec!["end-user: exact \"jason\"".into()],
        ..Default::default()
    };
    assert_eq!(
        wire(&prefix),
        json!({"prefix": "/", "headers": ["end-user: exact \"jason\""]})
    );
    let action = ActionView::Route(RouteActionView {
        cluster: Some(ClusterSpecifierView::WeightedClusters(vec![
            WeightedClusterView {
                name: "outbound|9080|v1|reviews.bookinfo.svc.cluster.local".into(),
                weight: Some(80),
            },
        ])),
        timeout: Some("15s".into()),
        ..Default::default()
    });
    assert_eq!(
        wire(&action),
        json!({"route": {
            "weighted_clusters": [{"name": "outbound|9080|v1|reviews.bookinfo.svc.cluster.local", "weight": 80}],
            "timeout": "15s",
        }})
    );
    assert_eq!(
        wire(&DebugError::new("no config loaded yet")),
        json!({"error": "no config loaded yet"})
    );
}

#[test]
fn the_documented_mesh_config_parses() {
    let config: MeshConfigSummary = serde_json::from_value(json!({
        "config_version": 7,
        "errors": ["bad.yaml:3 (document 1): VirtualService shop/web: spec.http[0].route: …"],
        "objects": 42,
        "services": [{"hostname": "web.shop.svc.cluster.local", "namespace": "shop",
                      "addresses": [], "resolution": "STATIC", "mesh_internal": true,
                      "ports": [{"name": "http", "port": 80, "protocol": "HTTP", "target_port": 80},
                                {"name": "grpc", "port": 90, "protocol": "GRPC_WEB", "target_port": "grpc-alt"}],
                      "endpoints": [{"address": "10.0.0.1", "ports": {"80": 80},
                                     "labels": {"app": "web"}, "workload": "WorkloadEntry shop/web-1",
                                     "weight": null, "locality": null}],
                      "virtual_services": ["VirtualService shop/web"],
                      "destination_rules": [], "subsets": []}],
        "workloads": [{"name": "web-1", "namespace": "shop", "address": "10.0.0.1",
                       "labels": {"app": "web"}, "service_account": "default",
                       "services": ["web.shop.svc.cluster.local"]}]
    }))
    .expect("parses");
    let web = &config.services[0];
    assert_eq!(web.resolution, Resolution::Static);
    assert_eq!(web.ports[0].target_port, TargetPort::Number(80));
    assert_eq!(web.ports[1].protocol, Protocol::GrpcWeb);
    assert_eq!(
        web.ports[1].target_port,
        TargetPort::Name("grpc-alt".into())
    );
    assert_eq!(web.endpoints[0].ports[&80], 80);
}

fn wire(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("serializes")
}
