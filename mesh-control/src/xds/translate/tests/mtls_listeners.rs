//! The server side of Istio's mTLS: `virtualInbound` per PeerAuthentication mode and
//! port, the passthrough chains, XFCC, and real Envoy accepting all of it.

use envoy_types::pb::envoy::config::listener::v3::FilterChain;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;

use super::mtls_clusters::{mtls_for, transport_socket_config};
use super::*;

/// Per chain: name, transport protocol, ALPNs and whether it terminates mTLS.
fn chains(l: &Listener) -> Vec<(String, String, Vec<String>, bool)> {
    l.filter_chains
        .iter()
        .map(|c| {
            let m = c.filter_chain_match.clone().unwrap_or_default();
            (
                c.name.clone(),
                m.transport_protocol,
                m.application_protocols,
                c.transport_socket.is_some(),
            )
        })
        .collect()
}

fn chain<'a>(l: &'a Listener, name: &str) -> &'a FilterChain {
    find(&l.filter_chains, |c| &c.name, name)
}

fn hcm_of(c: &FilterChain) -> HttpConnectionManager {
    match &c.filters[0].config_type {
        Some(filter::ConfigType::TypedConfig(a)) => typed(a),
        other => panic!("no config: {other:?}"),
    }
}

fn virtual_inbound(r: &ProxyResources) -> &Listener {
    find(&r.listeners, |l| &l.name, "virtualInbound")
}

const ISTIO_ALPNS: [&str; 5] = [
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];

#[test]
fn strict_mtls_rejects_plaintext_on_every_port() {
    // The mesh-wide STRICT policy applies to web-v1-0.
    let (_, r) = mtls_for("10.20.1.1", "web-v1-0", "shop");
    let l = virtual_inbound(&r);
    assert_eq!(
        chains(l)
            .iter()
            .map(|(n, t, _, m)| (n.as_str(), t.as_str(), *m))
            .collect::<Vec<_>>(),
        [
            ("virtualInbound-blackhole", "", false),
            ("inbound|8080||-mtls", "tls", true),
            ("virtualInbound-catchall-mtls", "tls", true),
        ],
        "no chain takes plain text, and there is no default chain"
    );
    assert!(l.default_filter_chain.is_none());
    let tls: DownstreamTlsContext = transport_socket_config(
        chain(l, "inbound|8080||-mtls")
            .transport_socket
            .as_ref()
            .expect("tls"),
    );
    assert_eq!(tls.require_client_certificate.map(|b| b.value), Some(true));
    let common = tls.common_tls_context.expect("common");
    assert_eq!(common.alpn_protocols, ["h2", "http/1.1"]);
    assert_eq!(
        names(&common.tls_certificate_sds_secret_configs, |s| &s.name),
        ["default"]
    );
    assert!(format!("{:?}", common.validation_context_type).contains("ROOTCA"));
    // The app learns the caller's identity from x-forwarded-client-cert.
    let hcm = hcm_of(chain(l, "inbound|8080||-mtls"));
    assert_eq!(
        hcm.forward_client_cert_details,
        http_connection_manager::ForwardClientCertDetails::AppendForward as i32
    );
    let details = hcm.set_current_client_cert_details.expect("cert details");
    assert!(details.uri && details.dns && details.subject.is_some_and(|b| b.value));
    assert!(
        names(&l.listener_filters, |f| &f.name)
            .contains(&"envoy.filters.listener.tls_inspector".to_string())
    );
}

#[test]
fn permissive_takes_mtls_by_alpn_and_plain_text_apart() {
    // db-0: its own policy is PERMISSIVE, port 5432 DISABLE, 7000 STRICT (no service
    // port: a passthrough chain of its own). 6000 has no declared protocol.
    let (_, r) = mtls_for("10.20.3.1", "db-0", "shop");
    let l = virtual_inbound(&r);
    let all = chains(l);
    let of = |prefix: &str| -> Vec<(String, String, Vec<String>, bool)> {
        all.iter()
            .filter(|(n, ..)| n.starts_with(prefix))
            .cloned()
            .collect()
    };
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        of("inbound|5432||"),
        [
            ("inbound|5432||".into(), "raw_buffer".into(), vec![], false),
            ("inbound|5432||-tls".into(), "tls".into(), vec![], false),
        ],
        "DISABLE: bytes only, TLS passed through to the app"
    );
    assert_eq!(
        of("inbound|6000||"),
        [
            (
                "inbound|6000||-mtls".into(),
                "tls".into(),
                s(&["istio-http/1.0", "istio-http/1.1", "istio-h2"]),
                true
            ),
            (
                "inbound|6000||".into(),
                "raw_buffer".into(),
                s(&["http/1.0", "http/1.1", "h2c"]),
                false
            ),
            (
                "inbound|6000||-mtls-tcp".into(),
                "tls".into(),
                s(&["istio-peer-exchange", "istio"]),
                true
            ),
            (
                "inbound|6000||-tcp".into(),
                "raw_buffer".into(),
                vec![],
                false
            ),
            ("inbound|6000||-tls".into(), "tls".into(), vec![], false),
        ]
    );
    assert_eq!(
        of("virtualInbound-catchall"),
        [
            (
                "virtualInbound-catchall-mtls".into(),
                "tls".into(),
                s(&ISTIO_ALPNS),
                true
            ),
            (
                "virtualInbound-catchall".into(),
                "raw_buffer".into(),
                vec![],
                false
            ),
            (
                "virtualInbound-catchall-tls".into(),
                "tls".into(),
                vec![],
                false
            ),
            (
                "virtualInbound-catchall-7000-mtls".into(),
                "tls".into(),
                vec![],
                true
            ),
        ]
    );
    let port_7000 = chain(l, "virtualInbound-catchall-7000-mtls");
    assert_eq!(
        port_7000
            .filter_chain_match
            .as_ref()
            .and_then(|m| m.destination_port)
            .map(|p| p.value),
        Some(7000)
    );
    // Mesh TCP servers negotiate Istio's metadata exchange protocol first.
    let tls: DownstreamTlsContext = transport_socket_config(
        chain(l, "inbound|6000||-mtls-tcp")
            .transport_socket
            .as_ref()
            .expect("tls"),
    );
    assert_eq!(
        tls.common_tls_context.expect("common").alpn_protocols,
        ["istio-peer-exchange", "h2", "http/1.1"]
    );
    // Plain text HTTP keeps Envoy's SANITIZE: a caller cannot claim an identity.
    let plain = hcm_of(chain(l, "inbound|6000||"));
    assert_eq!(plain.forward_client_cert_details, 0);
    assert!(plain.set_current_client_cert_details.is_none());
    assert_eq!(
        names(&l.listener_filters, |f| &f.name),
        [
            "envoy.filters.listener.original_dst",
            "envoy.filters.listener.tls_inspector",
            "envoy.filters.listener.http_inspector"
        ]
    );
}

#[test]
fn permissive_http_ports_take_every_istio_alpn_over_mtls() {
    // No policy selects pay-0: the mesh's STRICT. A proxy of the same workload with
    // its labels in the node (unknown to the model) resolves the same way.
    let model = model_of(&[("mtls.yaml", super::mtls_clusters::MTLS)]);
    let permissive = r#"
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: pay, namespace: shop}
spec: {selector: {matchLabels: {app: pay}}, mtls: {mode: PERMISSIVE}}
"#;
    let model_p = model_of(&[
        ("mtls.yaml", super::mtls_clusters::MTLS),
        ("pa.yaml", permissive),
    ]);
    let p = proxy("10.20.5.1", "pay-0", "shop");
    let strict = translate(&model, &p);
    assert_eq!(
        chains(virtual_inbound(&strict))
            .iter()
            .filter(|(n, ..)| n.starts_with("inbound|80||"))
            .count(),
        1
    );
    let mut unknown = proxy("10.20.5.9", "pay-9", "shop");
    unknown.labels = [("app".to_string(), "pay".to_string())].into();
    for r in [translate(&model_p, &p), translate(&model_p, &unknown)] {
        let l = virtual_inbound(&r);
        let port_80: Vec<_> = chains(l)
            .into_iter()
            .filter(|(n, ..)| n.starts_with("inbound|80||"))
            .collect();
        if port_80.is_empty() {
            // The unknown workload has no ports, only the passthrough.
            assert_eq!(chains(l).len(), 4);
            continue;
        }
        assert_eq!(
            port_80,
            [
                (
                    "inbound|80||-mtls".to_string(),
                    "tls".to_string(),
                    ISTIO_ALPNS.iter().map(|s| s.to_string()).collect(),
                    true
                ),
                (
                    "inbound|80||".to_string(),
                    "raw_buffer".to_string(),
                    vec![],
                    false
                ),
            ]
        );
    }
}

#[test]
fn disabled_workloads_take_plain_text_only_without_inspecting_tls() {
    let (_, r) = mtls_for("10.20.6.1", "legacy-0", "open");
    let l = virtual_inbound(&r);
    assert!(chains(l).iter().all(|(_, t, _, m)| !m && t != "tls"));
    assert!(
        !names(&l.listener_filters, |f| &f.name)
            .contains(&"envoy.filters.listener.tls_inspector".to_string())
    );
}

#[test]
fn envoy_accepts_every_mtls_mode() {
    for (ip, pod, ns) in [
        ("10.20.0.1", "client-0", "shop"),
        ("10.20.1.1", "web-v1-0", "shop"),
        ("10.20.3.1", "db-0", "shop"),
        ("10.20.6.1", "legacy-0", "open"),
    ] {
        let (p, r) = mtls_for(ip, pod, ns);
        if let Some(result) = envoy_validate::envoy_validate(&p.id, &r) {
            result.unwrap_or_else(|e| panic!("envoy rejected the config of {pod}: {e}"));
        }
    }
}

#[test]
fn a_proxy_without_an_identity_gets_no_mtls_and_its_strict_ports_take_nothing() {
    let model = model_of(&[("mtls.yaml", super::mtls_clusters::MTLS)]);
    let mut client = proxy("10.20.0.1", "client-0", "shop");
    client.sds = false;
    let r = translate(&model, &client);
    let web = find(
        &r.clusters,
        |c| &c.name,
        "outbound|80||web.shop.svc.cluster.local",
    );
    assert!(
        web.transport_socket_matches.is_empty() && web.transport_socket.is_none(),
        "no auto mTLS without a certificate to present: {web:?}"
    );
    // web-v1-0 is STRICT (mesh-wide): without an identity no chain takes its ports.
    let mut server = proxy("10.20.1.1", "web-v1-0", "shop");
    server.sds = false;
    let r = translate(&model, &server);
    let l = virtual_inbound(&r);
    assert!(
        chains(l).iter().all(|(_, _, _, mtls)| !mtls),
        "no SDS references: {:?}",
        chains(l)
    );
    assert!(
        chains(l)
            .iter()
            .all(|(name, _, _, _)| name == "virtualInbound-blackhole"),
        "plain text must not reach a STRICT workload: {:?}",
        chains(l)
    );
}
