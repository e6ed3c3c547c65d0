//! Translator tests over small models: names, domains, route order, weights, retry
//! defaults, LB mapping, circuit breakers, subsets, Sidecar scoping, source matching.

use std::collections::BTreeMap;

use mesh_api::test_support::{bookinfo, model_of};

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

mod clusters;
mod envoy_validate;
mod kubernetes;
mod listeners;
mod mtls_clusters;
mod mtls_listeners;
mod routes;
mod scope;

const FEATURES: &str = include_str!("tests/features.yaml");

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
        sds: true,
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

fn duration_ms(ms: u64) -> envoy_types::pb::google::protobuf::Duration {
    super::proto::duration(std::time::Duration::from_millis(ms))
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
fn proxies_of_one_scope_share_the_outbound_half() {
    let model = model_of(&[("features.yaml", FEATURES)]);
    // Two proxies the model has no workload for, with the same (no) labels.
    let a = proxy("10.20.9.1", "unknown-0", "shop");
    let b = proxy("10.20.9.2", "unknown-1", "shop");
    assert_eq!(super::scope_key(&model, &a), super::scope_key(&model, &b));
    assert_eq!(
        super::translate_outbound(&model, &a),
        super::translate_outbound(&model, &b)
    );
    let client = proxy("10.20.0.1", "client-0", "shop");
    let merged = super::merge(
        super::translate_outbound(&model, &client),
        super::translate_inbound(&model, &client),
    );
    assert_eq!(merged, translate(&model, &client));
    let mut labelled = a.clone();
    labelled.labels.insert("version".into(), "v2".into());
    assert_ne!(
        super::scope_key(&model, &labelled),
        super::scope_key(&model, &a),
        "labels select sourceLabels rules, Sidecars and DestinationRules"
    );
}
