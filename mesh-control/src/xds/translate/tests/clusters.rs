//! Clusters and endpoints: DestinationRule policies, subsets, DNS entries, TLS.

use super::*;

#[test]
fn destination_rule_maps_to_lb_policy_with_subset_and_port_overrides() {
    let r = features_for(&[]);
    let lb = |name: &str| cluster::LbPolicy::try_from(cluster(&r, name).lb_policy).ok();
    assert_eq!(
        lb(&format!("outbound|80||{WEB}")),
        Some(cluster::LbPolicy::RingHash)
    );
    assert_eq!(
        lb(&format!("outbound|80|v1|{WEB}")),
        Some(cluster::LbPolicy::RoundRobin),
        "subset policy overrides the rule's"
    );
    assert_eq!(
        lb(&format!("outbound|80|v2|{WEB}")),
        Some(cluster::LbPolicy::RingHash)
    );
    assert_eq!(
        lb("outbound|8080||api.shop.svc.cluster.local"),
        Some(cluster::LbPolicy::Maglev)
    );
    assert_eq!(
        lb("outbound|5432||db.shop.svc.cluster.local"),
        Some(cluster::LbPolicy::Random)
    );
    assert_eq!(
        lb("outbound|8000||client.shop.svc.cluster.local"),
        Some(cluster::LbPolicy::LeastRequest),
        "Istio's default"
    );
    let legacy = cluster(&r, "outbound|8080||legacy.internal");
    assert_eq!(
        legacy.cluster_discovery_type,
        Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::OriginalDst as i32
        )),
        "PASSTHROUGH load balancing is an ORIGINAL_DST cluster"
    );
    assert_eq!(
        lb("outbound|8080||legacy.internal"),
        Some(cluster::LbPolicy::ClusterProvided)
    );
    assert_eq!(
        lb("outbound|8080|a|legacy.internal"),
        Some(cluster::LbPolicy::LeastRequest)
    );
}

#[test]
fn connection_pool_becomes_circuit_breakers_with_istio_defaults() {
    let r = features_for(&[]);
    let web = cluster(&r, &format!("outbound|80||{WEB}"));
    assert_eq!(thresholds(web), [100, 10, 1000, 4]);
    assert_eq!(web.connect_timeout, Some(seconds(3)));
    let od = web.outlier_detection.as_ref().expect("outlier detection");
    assert_eq!(od.consecutive_5xx, Some(UInt32Value { value: 5 }));
    assert_eq!(
        od.consecutive_gateway_failure,
        Some(UInt32Value { value: 3 })
    );
    assert_eq!(od.max_ejection_percent, Some(UInt32Value { value: 50 }));
    assert_eq!(od.base_ejection_time, Some(seconds(30)));
    assert_eq!(
        od.enforcing_success_rate,
        Some(UInt32Value { value: 0 }),
        "success-rate ejection off, as Istio"
    );
    // Port-level settings replace the rule's whole connection pool, as in Istio.
    let grpc = cluster(&r, "outbound|9090||api.shop.svc.cluster.local");
    assert_eq!(thresholds(grpc), [u32::MAX, u32::MAX, 500, u32::MAX]);
    assert_eq!(grpc.lb_policy, cluster::LbPolicy::RoundRobin as i32);
    let client = cluster(&r, "outbound|8000||client.shop.svc.cluster.local");
    assert_eq!(thresholds(client), [u32::MAX; 4]);
    assert_eq!(client.connect_timeout, Some(seconds(10)));
    assert!(client.outlier_detection.is_none());
}

#[test]
fn subset_clusters_get_only_endpoints_with_the_subset_labels() {
    let r = features_for(&[]);
    let addresses = |name: &str| -> Vec<String> {
        let cla = find(&r.endpoints, |e| &e.cluster_name, name);
        cla.endpoints
            .iter()
            .flat_map(|l| &l.lb_endpoints)
            .map(|e| format!("{e:?}"))
            .collect()
    };
    let v1 = addresses(&format!("outbound|80|v1|{WEB}"));
    assert_eq!(v1.len(), 1);
    assert!(
        v1[0].contains("10.20.1.1") && v1[0].contains("8080"),
        "{v1:?}"
    );
    assert_eq!(addresses(&format!("outbound|80||{WEB}")).len(), 2);
    let localities = &find(
        &r.endpoints,
        |e| &e.cluster_name,
        &format!("outbound|80||{WEB}"),
    )
    .endpoints;
    assert_eq!(localities.len(), 2, "one group per locality");
}

#[test]
fn dns_service_entries_resolve_in_the_proxy() {
    let r = features_for(&[]);
    let httpbin = cluster(&r, "outbound|80||httpbin.org");
    assert_eq!(
        httpbin.cluster_discovery_type,
        Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::StrictDns as i32
        ))
    );
    assert!(format!("{:?}", httpbin.load_assignment).contains("httpbin.org"));
    let tls = cluster(&r, "outbound|443||api.external.com");
    assert_eq!(
        tls.cluster_discovery_type,
        Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::LogicalDns as i32
        )),
        "DNS_ROUND_ROBIN"
    );
    let mirror = cluster(&r, "outbound|80||mirror.internal");
    let text = format!("{:?}", mirror.load_assignment);
    assert!(text.contains("a.mirror.example.com") && text.contains("b.mirror.example.com"));
    assert!(
        !r.endpoints
            .iter()
            .any(|e| e.cluster_name.ends_with("httpbin.org"))
    );
    let l = find(&r.listeners, |l| &l.name, "0.0.0.0_443");
    let chain = &l.filter_chains[0];
    assert_eq!(
        chain
            .filter_chain_match
            .as_ref()
            .map(|m| m.server_names.clone()),
        Some(vec!["api.external.com".to_string()])
    );
}

#[test]
fn destination_rule_tls_originates_tls_with_sni() {
    let r = features_for(&[]);
    let tls = |name: &str| {
        let socket = cluster(&r, name).transport_socket.as_ref()?;
        match &socket.config_type {
            Some(
                envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(
                    a,
                ),
            ) => Some(typed::<
                envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext,
            >(a)),
            _ => None,
        }
    };
    let port_level = tls("outbound|80||mirror.internal").expect("port-level tls");
    assert_eq!(port_level.sni, "mirror.internal");
    assert!(format!("{port_level:?}").contains("/etc/ssl/certs/ca-certificates.crt"));
    assert_eq!(
        tls("outbound|80|pinned|mirror.internal")
            .expect("subset tls")
            .sni,
        "pinned.example.com"
    );
    let insecure = tls("outbound|80|insecure|mirror.internal").expect("subset tls");
    assert!(
        insecure
            .common_tls_context
            .and_then(|c| c.validation_context_type)
            .is_none()
    );
    assert!(
        tls(&format!("outbound|80||{WEB}")).is_none(),
        "plaintext without tls settings"
    );
}
