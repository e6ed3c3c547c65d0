//! Listeners: per-port filter chains, inbound, bound Sidecar egress listeners.

use super::*;

#[test]
fn tcp_services_get_vip_filter_chains_with_weighted_tcp_routes() {
    let r = features_for(&[]);
    let l = find(&r.listeners, |l| &l.name, "0.0.0.0_5432");
    assert_eq!(
        l.bind_to_port,
        Some(envoy_types::pb::google::protobuf::BoolValue { value: false })
    );
    let chain_name = "outbound|5432||db.shop.svc.cluster.local";
    let chain = find(&l.filter_chains, |c| &c.name, chain_name);
    let prefix = &chain
        .filter_chain_match
        .as_ref()
        .expect("match")
        .prefix_ranges[0];
    assert_eq!(prefix.address_prefix, "10.96.1.3");
    let Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) =
        tcp_proxy_of(l, chain_name).cluster_specifier
    else {
        panic!("weighted tcp");
    };
    let weights: Vec<(&str, u32)> = w
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("outbound|5432|primary|db.shop.svc.cluster.local", 90),
            ("outbound|5432|replica|db.shop.svc.cluster.local", 10)
        ]
    );
    assert!(
        l.default_filter_chain.is_some(),
        "unknown destinations pass through"
    );
    // An undeclared protocol is sniffed: HTTP by the inspector, else TCP.
    let cache = find(&r.listeners, |l| &l.name, "0.0.0.0_6379");
    assert_eq!(cache.filter_chains.len(), 2);
    assert!(
        cache
            .listener_filters
            .iter()
            .any(|f| f.name == "envoy.filters.listener.http_inspector")
    );
    // A client of a server-first protocol sends nothing: after the detection timeout
    // the connection is proxied as TCP rather than closed.
    assert_eq!(
        cache
            .listener_filters_timeout
            .as_ref()
            .map(|d| (d.seconds, d.nanos)),
        Some((0, 100_000_000))
    );
    assert!(cache.continue_on_listener_filters_timeout);
    let http_only = find(&r.listeners, |l| &l.name, "0.0.0.0_8080");
    assert!(http_only.listener_filters_timeout.is_none());
}

#[test]
fn inbound_has_a_chain_and_cluster_per_workload_port() {
    let r = features_for(&[]);
    let inbound = find(&r.listeners, |l| &l.name, "virtualInbound");
    let chains = names(&inbound.filter_chains, |c| &c.name);
    // PERMISSIVE (Istio's default): mTLS and plain text chains per port, then the
    // passthrough for other ports.
    assert_eq!(
        chains,
        [
            "virtualInbound-blackhole",
            "inbound|8000||-mtls",
            "inbound|8000||",
            "inbound|9000||-mtls",
            "inbound|9000||",
            "inbound|9000||-tls",
            "inbound|9100||-mtls",
            "inbound|9100||",
            "inbound|9100||-mtls-tcp",
            "inbound|9100||-tcp",
            "inbound|9100||-tls",
            "virtualInbound-catchall-mtls",
            "virtualInbound-catchall",
            "virtualInbound-catchall-tls",
        ]
    );
    let filters = names(&inbound.listener_filters, |f| &f.name);
    assert_eq!(
        filters,
        [
            "envoy.filters.listener.original_dst",
            "envoy.filters.listener.tls_inspector",
            "envoy.filters.listener.http_inspector"
        ]
    );
    // Port 9100 has no declared protocol: sniffed, with the detection timeout.
    assert!(inbound.continue_on_listener_filters_timeout);
    assert!(inbound.listener_filters_timeout.is_some());
    let c = cluster(&r, "inbound|8000||");
    let text = format!("{:?}", c.load_assignment);
    assert!(
        text.contains("10.20.0.1") && text.contains("8000"),
        "{text}"
    );
    assert!(format!("{:?}", c.upstream_bind_config).contains("127.0.0.6"));
}

#[test]
fn sidecar_egress_without_capture_gets_a_bound_listener() {
    let sidecar = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - port: {number: 80, protocol: HTTP, name: http}
    captureMode: NONE
    hosts: ["./web.shop.svc.cluster.local"]
  - hosts: ["*/*"]
"#;
    let model = model_of(&[("features.yaml", FEATURES), ("sidecar.yaml", sidecar)]);
    let p = proxy("10.20.0.1", "client-0", "shop");
    let r = translate(&model, &p);
    let bound = find(&r.listeners, |l| &l.name, "127.0.0.1_80");
    assert_eq!(bound.bind_to_port, None, "bound, unlike 0.0.0.0_80");
    assert!(format!("{:?}", bound.address).contains("127.0.0.1"));
    let unbound = find(&r.listeners, |l| &l.name, "0.0.0.0_80");
    assert!(unbound.bind_to_port.is_some());
    let outbound = find(&r.listeners, |l| &l.name, "virtualOutbound");
    assert_eq!(outbound.filter_chains[0].name, "virtualOutbound-blackhole");
    if let Some(result) = envoy_validate::envoy_validate(&p.id, &r) {
        result.unwrap_or_else(|e| panic!("envoy rejected the config: {e}"));
    }
}

#[test]
fn bound_tcp_listener_chains_do_not_match_on_the_service_vip() {
    // The app dials the bind address, so a VIP match would never be met (Istio only
    // adds destination CIDRs when `bind` is empty).
    let sidecar = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - port: {number: 5432, protocol: TCP, name: tcp}
    captureMode: NONE
    bind: 127.0.0.2
    hosts: ["./*"]
"#;
    let model = model_of(&[("features.yaml", FEATURES), ("sidecar.yaml", sidecar)]);
    let r = translate(&model, &proxy("10.20.0.1", "client-0", "shop"));
    let bound = find(&r.listeners, |l| &l.name, "127.0.0.2_5432");
    let chain = find(
        &bound.filter_chains,
        |c| &c.name,
        "outbound|5432||db.shop.svc.cluster.local",
    );
    let m = chain.filter_chain_match.clone().unwrap_or_default();
    assert!(m.prefix_ranges.is_empty(), "{m:?}");
    let captured = find(&r.listeners, |l| &l.name, "0.0.0.0_5432");
    let chain = find(
        &captured.filter_chains,
        |c| &c.name,
        "outbound|5432||db.shop.svc.cluster.local",
    );
    assert!(
        !chain
            .filter_chain_match
            .clone()
            .unwrap_or_default()
            .prefix_ranges
            .is_empty()
    );
}
