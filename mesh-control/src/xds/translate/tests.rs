//! Translator tests over small models: names, domains, route order, weights, retry
//! defaults, LB mapping, circuit breakers, subsets, Sidecar scoping, source matching.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesh_api::manifest::parse_file;
use mesh_api::model::{MeshModel, MeshSettings};

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, VirtualHost, route, route_action,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::{Any, UInt32Value};
use prost::Message;

use super::proto::seconds;
use super::translate;
use crate::xds::node::{ProxyKind, ProxyNode};
use crate::xds::resources::ProxyResources;

mod envoy_validate;

const FEATURES: &str = include_str!("tests/features.yaml");

fn model_of(files: &[(&str, &str)]) -> MeshModel {
    let mut objects = Vec::new();
    for (name, text) in files {
        let parsed = parse_file(name, text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        objects.extend(parsed.objects.into_iter().map(|p| Arc::new(p.object)));
    }
    MeshModel::build(objects, MeshSettings::default())
}

fn bookinfo() -> MeshModel {
    model_of(&[
        (
            "services.yaml",
            include_str!("../../../../examples/bookinfo/services.yaml"),
        ),
        (
            "workloads.yaml",
            include_str!("../../../../examples/bookinfo/workloads.yaml"),
        ),
        (
            "routing.yaml",
            include_str!("../../../../examples/bookinfo/routing.yaml"),
        ),
    ])
}

/// A sidecar whose labels come from its WorkloadEntry (none in the node metadata).
fn proxy(ip: &str, pod: &str, namespace: &str) -> ProxyNode {
    ProxyNode {
        id: ProxyNode::sidecar_id(ip, pod, namespace),
        kind: ProxyKind::Sidecar,
        ips: vec![ip.to_string()],
        workload_name: pod.to_string(),
        namespace: namespace.to_string(),
        labels: BTreeMap::new(),
        service_account: None,
    }
}

fn find<'a, T>(items: &'a [T], name: impl Fn(&T) -> &str, wanted: &str) -> &'a T {
    items
        .iter()
        .find(|i| name(i) == wanted)
        .unwrap_or_else(|| panic!("no {wanted}"))
}

fn cluster<'a>(r: &'a ProxyResources, name: &str) -> &'a Cluster {
    find(&r.clusters, |c| &c.name, name)
}

fn route_config<'a>(r: &'a ProxyResources, name: &str) -> &'a RouteConfiguration {
    find(&r.routes, |c| &c.name, name)
}

fn virtual_host<'a>(r: &'a ProxyResources, config: &str, name: &str) -> &'a VirtualHost {
    find(&route_config(r, config).virtual_hosts, |v| &v.name, name)
}

fn action(route: &Route) -> &RouteAction {
    match &route.action {
        Some(route::Action::Route(a)) => a,
        other => panic!("not a route action: {other:?}"),
    }
}

fn cluster_of(route: &Route) -> &str {
    match &action(route).cluster_specifier {
        Some(route_action::ClusterSpecifier::Cluster(c)) => c,
        other => panic!("not a single cluster: {other:?}"),
    }
}

fn weights_of(route: &Route) -> Vec<(&str, u32)> {
    match &action(route).cluster_specifier {
        Some(route_action::ClusterSpecifier::WeightedClusters(w)) => w
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.weight.as_ref().map_or(0, |w| w.value)))
            .collect(),
        other => panic!("not weighted clusters: {other:?}"),
    }
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
    items.iter().map(|i| name(i).to_string()).collect()
}

fn thresholds(c: &Cluster) -> [u32; 4] {
    let t = &c
        .circuit_breakers
        .as_ref()
        .expect("circuit breakers")
        .thresholds[0];
    let v = |x: &Option<UInt32Value>| x.as_ref().map_or(0, |v| v.value);
    [
        v(&t.max_connections),
        v(&t.max_pending_requests),
        v(&t.max_requests),
        v(&t.max_retries),
    ]
}

fn typed<T: Message + Default>(any: &Any) -> T {
    T::decode(any.value.as_slice()).expect("decodes")
}

fn network_filters(l: &Listener) -> Vec<(String, &Any)> {
    l.filter_chains
        .iter()
        .chain(l.default_filter_chain.iter())
        .flat_map(|c| c.filters.iter().map(move |f| (c.name.clone(), f)))
        .filter_map(|(chain, f)| match &f.config_type {
            Some(filter::ConfigType::TypedConfig(a)) => Some((chain, a)),
            _ => None,
        })
        .collect()
}

fn tcp_proxy_of(l: &Listener, chain: &str) -> TcpProxy {
    let (_, a) = network_filters(l)
        .into_iter()
        .find(|(c, _)| c == chain)
        .unwrap_or_else(|| panic!("no chain {chain} in {}", l.name));
    typed(a)
}

const REVIEWS: &str = "reviews.bookinfo.svc.cluster.local";

#[test]
fn bookinfo_resources_carry_istio_names() {
    let r = translate(
        &bookinfo(),
        &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"),
    );
    assert_eq!(
        names(&r.listeners, |l| &l.name),
        [
            "0.0.0.0_9080",
            "0.0.0.0_9090",
            "virtualInbound",
            "virtualOutbound"
        ]
    );
    assert_eq!(names(&r.routes, |c| &c.name), ["9080", "9090"]);
    for name in [
        "BlackHoleCluster",
        "PassthroughCluster",
        "InboundPassthroughCluster",
        "inbound|9080||",
        "outbound|9080||reviews.bookinfo.svc.cluster.local",
        "outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
        "outbound|9080|v3|reviews.bookinfo.svc.cluster.local",
        "outbound|9090||ratings.bookinfo.svc.cluster.local",
    ] {
        cluster(&r, name);
    }
    let eds: Vec<&str> = r
        .endpoints
        .iter()
        .map(|e| e.cluster_name.as_str())
        .collect();
    assert!(eds.contains(&"outbound|9080|v2|reviews.bookinfo.svc.cluster.local"));
    assert!(
        !eds.contains(&"inbound|9080||"),
        "inbound clusters are STATIC"
    );
    let sorted = |v: Vec<String>| {
        let mut s = v.clone();
        s.sort();
        s == v
    };
    assert!(sorted(names(&r.clusters, |c| &c.name)));
    assert!(sorted(names(&r.listeners, |l| &l.name)));
}

#[test]
fn virtual_host_carries_every_name_a_client_may_use() {
    let model = bookinfo();
    let r = translate(&model, &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"));
    let vh = virtual_host(&r, "9080", &format!("{REVIEWS}:9080"));
    for domain in [
        "reviews",
        "reviews:9080",
        "reviews.bookinfo",
        "reviews.bookinfo:9080",
        "reviews.bookinfo.svc",
        "reviews.bookinfo.svc:9080",
        REVIEWS,
        "reviews.bookinfo.svc.cluster.local:9080",
        "10.96.0.12:9080",
    ] {
        assert!(
            vh.domains.iter().any(|d| d == domain),
            "{domain} missing: {:?}",
            vh.domains
        );
    }
    // The short name is the client's namespace's: a proxy elsewhere does not get it.
    let elsewhere = model_of(&[
        (
            "s.yaml",
            include_str!("../../../../examples/bookinfo/services.yaml"),
        ),
        (
            "w.yaml",
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: c, namespace: other}\nspec: {address: 10.9.9.9}\n",
        ),
    ]);
    let r = translate(&elsewhere, &proxy("10.9.9.9", "c", "other"));
    let vh = virtual_host(&r, "9080", &format!("{REVIEWS}:9080"));
    assert!(
        !vh.domains
            .iter()
            .any(|d| d == "reviews" || d == "reviews:9080")
    );
    assert!(vh.domains.iter().any(|d| d == "reviews.bookinfo"));
    let fallback = virtual_host(&r, "9080", "allow_any");
    assert_eq!(fallback.domains, ["*"]);
    assert_eq!(cluster_of(&fallback.routes[0]), "PassthroughCluster");
}

#[test]
fn routes_follow_virtual_service_order_with_weights_retries_and_timeout() {
    let r = translate(
        &bookinfo(),
        &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"),
    );
    let vh = virtual_host(&r, "9080", &format!("{REVIEWS}:9080"));
    assert_eq!(vh.routes.len(), 2);
    let jason = &vh.routes[0];
    let header = &jason.r#match.as_ref().expect("match").headers[0];
    assert_eq!(header.name, "end-user");
    assert_eq!(cluster_of(jason), format!("outbound|9080|v2|{REVIEWS}"));
    let split = &vh.routes[1];
    assert_eq!(
        weights_of(split),
        [
            (format!("outbound|9080|v1|{REVIEWS}").as_str(), 80),
            (format!("outbound|9080|v3|{REVIEWS}").as_str(), 20)
        ]
    );
    let a = action(split);
    assert_eq!(a.timeout, Some(seconds(10)));
    let retry = a.retry_policy.as_ref().expect("retries");
    assert_eq!(retry.num_retries, Some(UInt32Value { value: 3 }));
    assert_eq!(retry.per_try_timeout, Some(seconds(2)));
}

#[test]
fn route_without_retries_gets_istio_default_policy_and_no_timeout() {
    let r = translate(
        &bookinfo(),
        &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"),
    );
    let vh = virtual_host(&r, "9080", "details.bookinfo.svc.cluster.local:9080");
    let a = action(&vh.routes[0]);
    assert_eq!(a.timeout, Some(seconds(0)));
    let retry = a.retry_policy.as_ref().expect("default retries");
    assert_eq!(retry.num_retries, Some(UInt32Value { value: 2 }));
    assert_eq!(
        retry.retry_on,
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    );
    assert_eq!(retry.retriable_status_codes, [503]);
    assert_eq!(
        retry.retry_host_predicate[0].name,
        "envoy.retry_host_predicates.previous_hosts"
    );
    assert_eq!(retry.host_selection_retry_max_attempts, 5);
}

fn features_for(labels: &[(&str, &str)]) -> ProxyResources {
    let model = model_of(&[("features.yaml", FEATURES)]);
    let mut p = proxy("10.20.0.1", "client-0", "shop");
    p.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    translate(&model, &p)
}

const WEB: &str = "web.shop.svc.cluster.local";

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
fn consistent_hash_puts_a_hash_policy_on_routes() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    // `weighted` goes first to subset v1, which balances ROUND_ROBIN: no hash.
    let weighted = vh
        .routes
        .iter()
        .find(|r| r.name == "weighted")
        .expect("weighted");
    assert!(action(weighted).hash_policy.is_empty());
    let faults = vh
        .routes
        .iter()
        .find(|r| r.name == "faults")
        .expect("faults");
    assert_eq!(
        format!("{:?}", action(faults).hash_policy),
        format!(
            "{:?}",
            vec![route_action::HashPolicy {
                policy_specifier: Some(route_action::hash_policy::PolicySpecifier::Header(
                    route_action::hash_policy::Header {
                        header_name: "x-user".into(),
                        ..Default::default()
                    }
                )),
                terminal: false,
            }]
        )
    );
    let api = virtual_host(&r, "8080", "api.shop.svc.cluster.local:8080");
    assert!(format!("{:?}", action(&api.routes[0]).hash_policy).contains("session"));
}

#[test]
fn every_match_of_a_rule_is_a_route_and_foreign_matches_are_dropped() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    let names: Vec<&str> = vh.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "by-header.jason",
            // Three of five matches: sourceLabels (app: nobody) and port 81 are not ours.
            "uri-kinds",
            "uri-kinds",
            "uri-kinds",
            "regex-rewrite",
            "redirect",
            "redirect-port",
            "direct",
            "direct-large",
            "direct-bytes",
            "faults",
            "grpc-fault",
            "cors",
            "weighted"
        ]
    );
    let uri = |i: usize| format!("{:?}", vh.routes[i].r#match.as_ref().expect("match"));
    assert!(
        uri(1).contains("Path(\"/exact\")") && uri(1).contains(":method"),
        "{}",
        uri(1)
    );
    assert!(
        uri(2).contains("Prefix(\"/Prefix\")")
            && uri(2).contains("case_sensitive: Some(BoolValue { value: false })")
    );
    assert!(uri(3).contains("SafeRegex") && uri(3).contains(":authority"));
    let without = &vh.routes[0].r#match.as_ref().expect("match").headers;
    assert!(without.iter().any(|h| h.name == "x-skip" && h.invert_match));
    // A proxy with the labels gets the sourceLabels match.
    let r = features_for(&[("app", "nobody")]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    assert_eq!(
        vh.routes.iter().filter(|r| r.name == "uri-kinds").count(),
        4
    );
}

#[test]
fn port_match_puts_a_rule_on_that_port_only() {
    let r = features_for(&[]);
    let grpc = virtual_host(&r, "9090", "api.shop.svc.cluster.local:9090");
    assert_eq!(grpc.routes.len(), 1);
    assert_eq!(
        cluster_of(&grpc.routes[0]),
        "outbound|9090||api.shop.svc.cluster.local"
    );
    assert!(
        action(&grpc.routes[0]).retry_policy.is_none(),
        "attempts: 0 disables retries"
    );
    let http = virtual_host(&r, "8080", "api.shop.svc.cluster.local:8080");
    assert_eq!(http.routes.len(), 1);
    assert_eq!(action(&http.routes[0]).timeout, Some(duration_ms(1500)));
}

fn duration_ms(ms: u64) -> envoy_types::pb::google::protobuf::Duration {
    super::proto::duration(std::time::Duration::from_millis(ms))
}

#[test]
fn http_policies_map_to_envoy() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    let by_name = |n: &str| vh.routes.iter().find(|r| r.name == n).expect(n);
    let weighted = by_name("weighted");
    let a = action(weighted);
    assert_eq!(
        weights_of(weighted),
        [
            (format!("outbound|80|v1|{WEB}").as_str(), 80),
            (format!("outbound|80|v2|{WEB}").as_str(), 20)
        ],
        "weight 0 destinations are dropped"
    );
    let retry = a.retry_policy.as_ref().expect("retries");
    assert_eq!(retry.retry_on, "5xx,gateway-error,retriable-status-codes");
    assert_eq!(retry.retriable_status_codes, [503, 504]);
    assert!(retry.retry_host_predicate.is_empty());
    assert_eq!(
        retry.retry_back_off.as_ref().and_then(|b| b.base_interval),
        Some(duration_ms(50))
    );
    let mirrors: Vec<(&str, u32)> = a
        .request_mirror_policies
        .iter()
        .map(|m| {
            let pct = m
                .runtime_fraction
                .as_ref()
                .and_then(|f| f.default_value)
                .map_or(0, |f| f.numerator);
            (m.cluster.as_str(), pct)
        })
        .collect();
    assert_eq!(
        mirrors,
        [
            ("outbound|80||billing.finance.svc.cluster.local", 50_000),
            ("outbound|8080||api.shop.svc.cluster.local", 250_000)
        ]
    );
    let set: Vec<(&str, i32)> = weighted
        .request_headers_to_add
        .iter()
        .map(|h| {
            (
                h.header.as_ref().map_or("", |h| h.key.as_str()),
                h.append_action,
            )
        })
        .collect();
    assert_eq!(
        set,
        [("x-rule", 2), ("x-trace", 0)],
        "set overwrites, add appends"
    );
    assert_eq!(weighted.request_headers_to_remove, ["x-internal"]);
    let Some(route_action::ClusterSpecifier::WeightedClusters(w)) = &a.cluster_specifier else {
        panic!("weighted");
    };
    assert!(format!("{:?}", w.clusters[1].host_rewrite_specifier).contains("v2.web"));

    let faults = by_name("faults");
    let fault: envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault =
        typed(&faults.typed_per_filter_config["envoy.filters.http.fault"]);
    let abort = fault.abort.expect("abort");
    assert_eq!(abort.percentage.map(|p| p.numerator), Some(105_000));
    assert_eq!(
        fault.delay.and_then(|d| d.percentage).map(|p| p.numerator),
        Some(500_000)
    );
    let cors: envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy =
        typed(&by_name("cors").typed_per_filter_config["envoy.filters.http.cors"]);
    assert_eq!(cors.allow_methods, "GET,POST");
    assert_eq!(cors.max_age, "86400");
    assert_eq!(cors.allow_origin_string_match.len(), 2);

    let Some(route::Action::Redirect(redirect)) = &by_name("redirect").action else {
        panic!("redirect");
    };
    assert_eq!(redirect.port_redirect, 443);
    assert_eq!(redirect.host_redirect, "web.shop");
    assert_eq!(redirect.response_code, 4, "308 is PERMANENT_REDIRECT");
    let Some(route::Action::DirectResponse(direct)) = &by_name("direct").action else {
        panic!("direct response");
    };
    assert_eq!(direct.status, 503);
    let rewrite = action(by_name("uri-kinds"));
    assert_eq!(rewrite.prefix_rewrite, "/rewritten");
    assert!(format!("{:?}", rewrite.host_rewrite_specifier).contains("web.internal"));
}

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
fn inbound_has_a_chain_and_cluster_per_workload_port() {
    let r = features_for(&[]);
    let inbound = find(&r.listeners, |l| &l.name, "virtualInbound");
    let chains = names(&inbound.filter_chains, |c| &c.name);
    assert_eq!(
        chains,
        [
            "virtualInbound-blackhole",
            "inbound|8000||",
            "inbound|9000||",
            "inbound|9100||",
            "inbound|9100||-tcp"
        ]
    );
    assert!(
        inbound
            .listener_filters
            .iter()
            .any(|f| f.name == "envoy.filters.listener.original_dst")
    );
    let c = cluster(&r, "inbound|8000||");
    let text = format!("{:?}", c.load_assignment);
    assert!(
        text.contains("10.20.0.1") && text.contains("8000"),
        "{text}"
    );
    assert!(format!("{:?}", c.upstream_bind_config).contains("127.0.0.6"));
}

#[test]
fn sidecar_egress_hosts_scope_what_a_proxy_receives() {
    let sidecar = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - hosts: ["./*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"#;
    let model = model_of(&[("features.yaml", FEATURES), ("sidecar.yaml", sidecar)]);
    let r = translate(&model, &proxy("10.20.0.1", "client-0", "shop"));
    assert!(
        !r.clusters
            .iter()
            .any(|c| c.name.contains("billing.finance"))
    );
    assert!(r.clusters.iter().any(|c| c.name.contains(WEB)));
    let fallback = virtual_host(&r, "80", "block_all");
    assert!(matches!(
        fallback.routes[0].action,
        Some(route::Action::DirectResponse(_))
    ));
    // Mirrors to a host outside the scope still name its cluster (503 at run time).
    let selecting = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client, namespace: shop}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
  - hosts: ["finance/billing.finance.svc.cluster.local"]
"#;
    let model = model_of(&[
        ("features.yaml", FEATURES),
        ("sidecar.yaml", sidecar),
        ("s2.yaml", selecting),
    ]);
    let r = translate(&model, &proxy("10.20.0.1", "client-0", "shop"));
    let outbound: Vec<&str> = r
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| n.starts_with("outbound|"))
        .collect();
    assert_eq!(
        outbound,
        ["outbound|80||billing.finance.svc.cluster.local"],
        "the selecting Sidecar wins"
    );
}

#[test]
fn export_to_hides_services_from_other_namespaces() {
    let svc = r#"
apiVersion: v1
kind: Service
metadata: {name: private, namespace: a, annotations: {networking.istio.io/exportTo: "."}}
spec: {clusterIP: 10.96.9.1, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: c, namespace: b}
spec: {address: 10.9.9.9}
"#;
    let model = model_of(&[("f.yaml", svc)]);
    let r = translate(&model, &proxy("10.9.9.9", "c", "b"));
    assert!(!r.clusters.iter().any(|c| c.name.contains("private")));
    let r = translate(&model, &proxy("10.9.9.8", "d", "a"));
    assert!(r.clusters.iter().any(|c| c.name.contains("private")));
}

#[test]
fn translation_is_deterministic() {
    let model = model_of(&[("features.yaml", FEATURES)]);
    let p = proxy("10.20.0.1", "client-0", "shop");
    assert_eq!(translate(&model, &p), translate(&model, &p));
    let bytes = |r: &ProxyResources| -> Vec<Vec<u8>> {
        r.clusters.iter().map(Message::encode_to_vec).collect()
    };
    assert_eq!(bytes(&translate(&model, &p)), bytes(&translate(&model, &p)));
    assert_eq!(
        super::translate_endpoints(&model, &p),
        translate(&model, &p).endpoints,
        "the EDS-only path gives the same endpoints"
    );
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
fn delegate_rules_replace_the_delegating_rule_narrowed_by_its_match() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "8000", "client.shop.svc.cluster.local:8000");
    let matches: Vec<String> = vh
        .routes
        .iter()
        .map(|r| {
            let m = r.r#match.as_ref().expect("match");
            format!("{:?} {}", m.path_specifier, m.headers.len())
        })
        .collect();
    assert_eq!(
        matches,
        [
            "Some(Prefix(\"/api/v2\")) 1",
            // `/other` is outside the root's `/api`: dropped.
            "Some(Prefix(\"/api\")) 1",
            "Some(Prefix(\"/\")) 0"
        ]
    );
    assert_eq!(action(&vh.routes[1]).timeout, Some(seconds(2)));
}
