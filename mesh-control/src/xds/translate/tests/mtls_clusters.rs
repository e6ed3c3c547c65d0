//! The client side of Istio's mTLS: auto mTLS by endpoint label, DestinationRule tls
//! modes after Istio's merge, SNI and the SAN list, endpoint metadata.

use envoy_types::pb::envoy::config::core::v3::TransportSocket;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    UpstreamTlsContext, common_tls_context, subject_alt_name_matcher,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher;
use envoy_types::pb::google::protobuf::value;

use super::*;

pub(super) const MTLS: &str = include_str!("mtls.yaml");

pub(super) fn mtls_for(ip: &str, pod: &str, namespace: &str) -> (ProxyNode, ProxyResources) {
    let model = model_of(&[("mtls.yaml", MTLS)]);
    let p = proxy(ip, pod, namespace);
    let r = translate(&model, &p);
    (p, r)
}

pub(super) fn transport_socket_config<T: Message + Default>(socket: &TransportSocket) -> T {
    match &socket.config_type {
        Some(
            envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(a),
        ) => typed(a),
        other => panic!("no typed config: {other:?}"),
    }
}

/// SNI, ALPN, SANs and the SDS names of an Istio mTLS client context.
fn istio_client(tls: &UpstreamTlsContext) -> (String, Vec<String>, Vec<String>, Vec<String>) {
    let common = tls.common_tls_context.as_ref().expect("common context");
    let Some(common_tls_context::ValidationContextType::CombinedValidationContext(combined)) =
        &common.validation_context_type
    else {
        panic!("no combined validation context: {common:?}");
    };
    let sans = combined
        .default_validation_context
        .as_ref()
        .expect("default validation context")
        .match_typed_subject_alt_names
        .iter()
        .map(|m| {
            let expected = if m.matcher.as_ref().is_some_and(|s| {
                matches!(&s.match_pattern, Some(string_matcher::MatchPattern::Exact(v)) if v.starts_with("spiffe://"))
            }) {
                subject_alt_name_matcher::SanType::Uri
            } else {
                subject_alt_name_matcher::SanType::Dns
            };
            assert_eq!(m.san_type, expected as i32, "SPIFFE IDs are URI SANs: {m:?}");
            match m.matcher.as_ref().and_then(|s| s.match_pattern.as_ref()) {
                Some(string_matcher::MatchPattern::Exact(s)) => s.clone(),
                other => panic!("not exact: {other:?}"),
            }
        })
        .collect();
    let mut sds: Vec<String> = common
        .tls_certificate_sds_secret_configs
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let root = combined
        .validation_context_sds_secret_config
        .as_ref()
        .expect("ROOTCA");
    sds.push(root.name.clone());
    let sds_cluster = format!("{:?}", root.sds_config);
    assert!(sds_cluster.contains("sds-grpc"), "{sds_cluster}");
    let params = common.tls_params.as_ref().expect("tls params");
    assert_eq!(
        (
            params.tls_minimum_protocol_version,
            params.tls_maximum_protocol_version
        ),
        (3, 4),
        "TLSv1_2..TLSv1_3"
    );
    (tls.sni.clone(), common.alpn_protocols.clone(), sans, sds)
}

/// The mTLS socket and the match names of an auto-mTLS cluster.
fn auto_mtls(c: &Cluster) -> (UpstreamTlsContext, Vec<String>) {
    assert!(c.transport_socket.is_none(), "{}: matches only", c.name);
    let names = names(&c.transport_socket_matches, |m| &m.name);
    let istio = &c.transport_socket_matches[0];
    let label = istio
        .r#match
        .as_ref()
        .and_then(|m| m.fields.get("tlsMode"))
        .and_then(|v| v.kind.clone());
    assert_eq!(label, Some(value::Kind::StringValue("istio".into())));
    let plain = &c.transport_socket_matches[1];
    assert_eq!(plain.r#match.clone().unwrap_or_default().fields.len(), 0);
    assert_eq!(
        plain.transport_socket.as_ref().map(|s| s.name.as_str()),
        Some("envoy.transport_sockets.raw_buffer")
    );
    let socket = istio.transport_socket.as_ref().expect("socket");
    (transport_socket_config(socket), names)
}

fn spiffe(sa: &str) -> String {
    format!("spiffe://cluster.local/ns/shop/sa/{sa}")
}

#[test]
fn auto_mtls_sends_mtls_to_labelled_endpoints_and_plain_text_to_others() {
    let (_, r) = mtls_for("10.20.0.1", "client-0", "shop");
    let web = "outbound|80||web.shop.svc.cluster.local";
    let (tls, matches) = auto_mtls(cluster(&r, web));
    assert_eq!(matches, ["tlsMode-istio", "tlsMode-disabled"]);
    let (sni, alpn, sans, sds) = istio_client(&tls);
    assert_eq!(sni, "outbound_.80_._.web.shop.svc.cluster.local");
    assert_eq!(alpn, ["istio-peer-exchange", "istio"]);
    assert_eq!(
        sans,
        [spiffe("web"), spiffe("web-canary")],
        "every service account, sorted, once"
    );
    assert_eq!(sds, ["default", "ROOTCA"]);
    // A subset without tls settings keeps auto mTLS, with its own SNI.
    let (v2, _) = auto_mtls(cluster(&r, "outbound|80|v2|web.shop.svc.cluster.local"));
    assert_eq!(v2.sni, "outbound_.80_.v2_.web.shop.svc.cluster.local");
    // HTTP/2 clusters offer h2 after Istio's protocols.
    let (grpc, _) = auto_mtls(cluster(&r, "outbound|9090||grpc.shop.svc.cluster.local"));
    assert_eq!(
        istio_client(&grpc).1,
        ["istio-peer-exchange", "istio", "h2"]
    );
    // A ServiceEntry's inline endpoints and subjectAltNames count too.
    let (vm, _) = auto_mtls(cluster(&r, "outbound|80||vm.shop.internal"));
    assert_eq!(
        istio_client(&vm).2,
        [
            "spiffe://cluster.local/ns/shop/sa/vm",
            "spiffe://cluster.local/ns/vms/sa/legacy-vm"
        ]
    );
}

#[test]
fn endpoints_carry_their_tls_mode_label_as_metadata() {
    let (_, r) = mtls_for("10.20.0.1", "client-0", "shop");
    let modes = |cluster: &str| -> Vec<Option<String>> {
        let cla = find(&r.endpoints, |e| &e.cluster_name, cluster);
        cla.endpoints
            .iter()
            .flat_map(|l| &l.lb_endpoints)
            .map(|e| {
                let md = e.metadata.as_ref()?;
                let s = md.filter_metadata.get("envoy.transport_socket_match")?;
                match s.fields.get("tlsMode")?.kind.as_ref()? {
                    value::Kind::StringValue(v) => Some(v.clone()),
                    _ => None,
                }
            })
            .collect()
    };
    assert_eq!(
        modes("outbound|80||web.shop.svc.cluster.local"),
        vec![Some("istio".to_string()); 3]
    );
    assert_eq!(
        modes("outbound|6379||cache.shop.svc.cluster.local"),
        [None],
        "no label: no sidecar, plain text"
    );
    assert_eq!(
        modes("outbound|80||legacy.open.svc.cluster.local"),
        [None],
        "`disabled` is no mode"
    );
}

#[test]
fn destination_rule_tls_modes_override_auto_mtls() {
    let (_, r) = mtls_for("10.20.0.1", "client-0", "shop");
    // ISTIO_MUTUAL: the mesh's mTLS to every endpoint, labelled or not.
    let db = cluster(&r, "outbound|5432||db.shop.svc.cluster.local");
    assert!(db.transport_socket_matches.is_empty());
    let tls: UpstreamTlsContext =
        transport_socket_config(db.transport_socket.as_ref().expect("socket"));
    let (sni, alpn, sans, _) = istio_client(&tls);
    assert_eq!(sni, "outbound_.5432_._.db.shop.svc.cluster.local");
    assert_eq!(alpn, ["istio-peer-exchange", "istio"]);
    assert_eq!(sans, [spiffe("db")]);
    // ISTIO_MUTUAL at port level, with the rule's SNI and SANs.
    let admin = cluster(&r, "outbound|81||pay.shop.svc.cluster.local");
    let tls: UpstreamTlsContext =
        transport_socket_config(admin.transport_socket.as_ref().expect("socket"));
    let (sni, _, sans, _) = istio_client(&tls);
    assert_eq!(sni, "admin.pay.example");
    assert_eq!(sans, [spiffe("pay-admin")]);
    // The rule's other port has no tls: auto mTLS.
    auto_mtls(cluster(&r, "outbound|80||pay.shop.svc.cluster.local"));
    // DISABLE, for the rule and for one subset: plain text only.
    for name in [
        "outbound|6379||cache.shop.svc.cluster.local",
        "outbound|80|v1|web.shop.svc.cluster.local",
    ] {
        let c = cluster(&r, name);
        assert!(
            c.transport_socket.is_none() && c.transport_socket_matches.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn no_auto_mtls_outside_the_mesh_or_where_the_namespace_disables_it() {
    let (_, r) = mtls_for("10.20.0.1", "client-0", "shop");
    for name in [
        "outbound|80||api.example.com",
        "outbound|80||legacy.open.svc.cluster.local",
        "PassthroughCluster",
    ] {
        let c = cluster(&r, name);
        assert!(
            c.transport_socket.is_none() && c.transport_socket_matches.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn the_trust_domain_setting_names_the_identities() {
    let settings = mesh_api::model::MeshSettings {
        trust_domain: "example.org".to_string(),
        ..Default::default()
    };
    let model = mesh_api::model::MeshModel::build(
        mesh_api::test_support::objects_of(&[("mtls.yaml", MTLS)]),
        settings,
    );
    let r = translate(&model, &proxy("10.20.0.1", "client-0", "shop"));
    let (tls, _) = auto_mtls(cluster(&r, "outbound|80||web.shop.svc.cluster.local"));
    assert_eq!(
        istio_client(&tls).2,
        [
            "spiffe://example.org/ns/shop/sa/web",
            "spiffe://example.org/ns/shop/sa/web-canary"
        ]
    );
}
