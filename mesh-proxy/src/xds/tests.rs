//! The xDS state: per-resource accept/reject, dependent subscriptions, first sync.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryResponse, Resource};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::*;
use mesh_api::xds::type_url::{
    CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION, SECRET,
};
use std::sync::Arc;

use crate::config::Snapshot;

fn resource<M: Message>(type_url: &str, name: &str, version: &str, msg: &M) -> Resource {
    Resource {
        name: name.to_string(),
        version: version.to_string(),
        resource: Some(Any {
            type_url: type_url.to_string(),
            value: msg.encode_to_vec(),
        }),
        ..Default::default()
    }
}

fn response(type_url: &str, resources: Vec<Resource>, removed: &[&str]) -> DeltaDiscoveryResponse {
    DeltaDiscoveryResponse {
        type_url: type_url.to_string(),
        resources,
        removed_resources: removed.iter().map(|s| s.to_string()).collect(),
        nonce: "n".into(),
        ..Default::default()
    }
}

fn accept_cluster(state: &mut XdsState, c: &Cluster) {
    state
        .apply(&response(
            CLUSTER,
            vec![resource(CLUSTER, &c.name, "1", c)],
            &[],
        ))
        .expect("cds");
}

/// An empty ClusterLoadAssignment for `cluster`: its endpoints have arrived.
fn accept_no_endpoints(state: &mut XdsState, cluster: &str) {
    accept_endpoints(state, cluster, &[]);
}

fn eds_cluster(name: &str, lb: cluster::LbPolicy) -> Cluster {
    Cluster {
        name: name.to_string(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        lb_policy: lb as i32,
        ..Default::default()
    }
}

#[test]
fn an_unsupported_cluster_is_nacked_by_name_and_the_others_are_applied() {
    let mut state = XdsState::default();
    let good = eds_cluster(
        "outbound|8080||web.e2e.svc.cluster.local",
        cluster::LbPolicy::RoundRobin,
    );
    let mut bad = eds_cluster(
        "outbound|8080||ejecting.e2e.svc.cluster.local",
        cluster::LbPolicy::RoundRobin,
    );
    bad.outlier_detection = Some(Default::default());
    let err = state
        .apply(&response(
            CLUSTER,
            vec![
                resource(CLUSTER, &good.name, "1", &good),
                resource(CLUSTER, &bad.name, "1", &bad),
            ],
            &[],
        ))
        .expect_err("outlier detection is not supported");
    assert!(
        err.contains("ejecting.e2e") && err.contains("outlier_detection"),
        "{err}"
    );
    assert_eq!(
        state.wanted_endpoints().into_iter().collect::<Vec<_>>(),
        vec![good.name.clone()]
    );
}

#[test]
fn a_rejected_update_keeps_the_accepted_version() {
    let mut state = XdsState::default();
    let rc = RouteConfiguration {
        name: "8080".into(),
        ..Default::default()
    };
    state
        .apply(&response(
            ROUTE_CONFIGURATION,
            vec![resource(ROUTE_CONFIGURATION, "8080", "1", &rc)],
            &[],
        ))
        .expect("accepted");
    let garbage = Resource {
        name: "8080".into(),
        version: "2".into(),
        resource: Some(Any {
            type_url: ROUTE_CONFIGURATION.into(),
            value: vec![0xff, 0xff],
        }),
        ..Default::default()
    };
    assert!(
        state
            .apply(&response(ROUTE_CONFIGURATION, vec![garbage], &[]))
            .is_err()
    );
    assert_eq!(
        state
            .versions(XdsType::RouteConfiguration)
            .get("8080")
            .map(String::as_str),
        Some("1")
    );
}

#[test]
fn an_unknown_type_is_nacked_and_secrets_are_refused_by_name_until_tls() {
    let mut state = XdsState::default();
    let unknown = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
    let err = state
        .apply(&response(unknown, vec![], &[]))
        .expect_err("an unknown type is never taken for another");
    assert!(err.contains(unknown), "{err}");
    let err = state
        .apply(&response(SECRET, vec![], &[]))
        .expect_err("SDS is not applied yet");
    assert!(err.contains("SDS"), "{err}");
    // Neither counts as an answer for the first sync.
    state.apply(&response(LISTENER, vec![], &[])).expect("lds");
    assert!(!state.synced(), "CDS has not answered");
}

#[test]
fn synced_only_once_clusters_listeners_and_their_endpoints_arrived() {
    let mut state = XdsState::default();
    let c = eds_cluster("outbound|8080||web", cluster::LbPolicy::LeastRequest);
    accept_cluster(&mut state, &c);
    state.apply(&response(LISTENER, vec![], &[])).expect("lds");
    assert!(!state.synced(), "endpoints of the EDS cluster are missing");
    accept_no_endpoints(&mut state, &c.name);
    assert!(state.synced());
    let snapshot = state.snapshot(&Snapshot::default());
    assert!(snapshot.synced && snapshot.clusters.contains_key(&c.name));
    // Removing the cluster later does not make the proxy unready.
    state
        .apply(&response(CLUSTER, vec![], &[&c.name]))
        .expect("removal");
    assert!(state.synced() && state.wanted_endpoints().is_empty());
}

#[test]
fn sotw_responses_replace_clusters_but_leave_unlisted_endpoints() {
    use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
    let sotw = |type_url: &str, version: &str, msgs: Vec<Vec<u8>>| DiscoveryResponse {
        type_url: type_url.to_string(),
        version_info: version.to_string(),
        resources: msgs
            .into_iter()
            .map(|value| Any {
                type_url: type_url.to_string(),
                value,
            })
            .collect(),
        nonce: "n".into(),
        ..Default::default()
    };
    let a = eds_cluster(
        "outbound|80||a.demo.svc.cluster.local",
        cluster::LbPolicy::RoundRobin,
    );
    let b = eds_cluster(
        "outbound|80||b.demo.svc.cluster.local",
        cluster::LbPolicy::RoundRobin,
    );
    let mut state = XdsState::default();
    state
        .apply_sotw(&sotw(
            CLUSTER,
            "1",
            vec![a.encode_to_vec(), b.encode_to_vec()],
        ))
        .expect("both");
    let cla = |name: &str| ClusterLoadAssignment {
        cluster_name: name.to_string(),
        ..Default::default()
    };
    state
        .apply_sotw(&sotw(
            CLUSTER_LOAD_ASSIGNMENT,
            "1",
            vec![cla(&a.name).encode_to_vec(), cla(&b.name).encode_to_vec()],
        ))
        .expect("endpoints");
    // CDS is complete: b is gone. An EDS response naming only a leaves b's alone.
    state
        .apply_sotw(&sotw(CLUSTER, "2", vec![a.encode_to_vec()]))
        .expect("a only");
    assert_eq!(
        state.wanted_endpoints().into_iter().collect::<Vec<_>>(),
        vec![a.name.clone()]
    );
    state
        .apply_sotw(&sotw(
            CLUSTER_LOAD_ASSIGNMENT,
            "2",
            vec![cla(&a.name).encode_to_vec()],
        ))
        .expect("a's endpoints");
    assert!(state.versions(XdsType::Endpoints).contains_key(&b.name));
    assert!(!state.versions(XdsType::Cluster).contains_key(&b.name));
}

/// A bound listener on `port` whose HTTP routes come over RDS as `route_config`.
fn http_listener(
    port: u32,
    route_config: &str,
) -> envoy_types::pb::envoy::config::listener::v3::Listener {
    use envoy_types::pb::envoy::config::core::v3::{
        Address, SocketAddress, address, socket_address,
    };
    use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
        HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier,
        http_filter,
    };
    let hcm = HttpConnectionManager {
        stat_prefix: format!("outbound_10.0.0.2_{port}"),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            route_config_name: route_config.into(),
            ..Default::default()
        })),
        http_filters: vec![HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(Any {
                type_url: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                    .into(),
                value: vec![],
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    Listener {
        name: format!("10.0.0.2_{port}"),
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: "10.0.0.2".into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..Default::default()
            })),
        }),
        filter_chains: vec![FilterChain {
            filters: vec![Filter {
                name: "envoy.filters.network.http_connection_manager".into(),
                config_type: Some(filter::ConfigType::TypedConfig(Any {
                    type_url: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager".into(),
                    value: hcm.encode_to_vec(),
                })),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn route_config(name: &str) -> Resource {
    let rc = RouteConfiguration {
        name: name.into(),
        ..Default::default()
    };
    resource(ROUTE_CONFIGURATION, name, "1", &rc)
}

#[test]
fn a_listener_warms_until_its_route_config_arrives_and_the_old_one_serves_meanwhile() {
    let mut state = XdsState::default();
    state.apply(&response(CLUSTER, vec![], &[])).expect("cds");
    let first = http_listener(8080, "8080");
    state
        .apply(&response(
            LISTENER,
            vec![resource(LISTENER, &first.name, "1", &first)],
            &[],
        ))
        .expect("lds");
    state
        .apply(&response(
            ROUTE_CONFIGURATION,
            vec![route_config("8080")],
            &[],
        ))
        .expect("rds");
    let synced = state.snapshot(&Snapshot::default());
    assert!(synced.synced && synced.listeners.contains_key("10.0.0.2_8080"));

    // A new listener, and the old one now naming a route config not sent yet.
    let added = http_listener(9090, "9090");
    let changed = http_listener(8080, "8080-v2");
    state
        .apply(&response(
            LISTENER,
            vec![
                resource(LISTENER, &added.name, "2", &added),
                resource(LISTENER, &changed.name, "2", &changed),
            ],
            &[],
        ))
        .expect("lds");
    let warming = state.snapshot(&synced);
    assert!(
        !warming.listeners.contains_key("10.0.0.2_9090"),
        "no listener is served before its routes arrived (Envoy answers nothing, not 404)"
    );
    assert!(
        Arc::ptr_eq(
            &warming.listeners["10.0.0.2_8080"],
            &synced.listeners["10.0.0.2_8080"]
        ),
        "the previous version keeps serving while the update warms"
    );

    state
        .apply(&response(
            ROUTE_CONFIGURATION,
            vec![route_config("9090"), route_config("8080-v2")],
            &[],
        ))
        .expect("rds");
    let warm = state.snapshot(&warming);
    assert!(warm.listeners.contains_key("10.0.0.2_9090"));
    assert!(!Arc::ptr_eq(
        &warm.listeners["10.0.0.2_8080"],
        &synced.listeners["10.0.0.2_8080"]
    ));
}

#[test]
fn an_eds_cluster_warms_until_its_endpoints_arrive() {
    let mut state = XdsState::default();
    state.apply(&response(LISTENER, vec![], &[])).expect("lds");
    state.apply(&response(CLUSTER, vec![], &[])).expect("cds");
    let synced = state.snapshot(&Snapshot::default());
    assert!(synced.synced);
    let c = eds_cluster("outbound|8080||web", cluster::LbPolicy::RoundRobin);
    accept_cluster(&mut state, &c);
    let warming = state.snapshot(&synced);
    assert!(!warming.clusters.contains_key(&c.name));
    accept_no_endpoints(&mut state, &c.name);
    assert!(state.snapshot(&warming).clusters.contains_key(&c.name));
}

/// An assignment of `cluster` to `hosts`, all healthy, weight 1.
fn accept_endpoints(state: &mut XdsState, cluster: &str, hosts: &[&str]) {
    use envoy_types::pb::envoy::config::core::v3::{
        Address, SocketAddress, address, socket_address,
    };
    use envoy_types::pb::envoy::config::endpoint::v3::{
        Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
    };
    let lb_endpoints = hosts
        .iter()
        .map(|h| {
            let addr: std::net::SocketAddr = h.parse().expect("host");
            LbEndpoint {
                host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                    address: Some(Address {
                        address: Some(address::Address::SocketAddress(SocketAddress {
                            address: addr.ip().to_string(),
                            port_specifier: Some(socket_address::PortSpecifier::PortValue(
                                u32::from(addr.port()),
                            )),
                            ..Default::default()
                        })),
                    }),
                    ..Default::default()
                })),
                ..Default::default()
            }
        })
        .collect();
    let cla = ClusterLoadAssignment {
        cluster_name: cluster.to_string(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints,
            ..Default::default()
        }],
        ..Default::default()
    };
    state
        .apply(&response(
            CLUSTER_LOAD_ASSIGNMENT,
            vec![resource(CLUSTER_LOAD_ASSIGNMENT, cluster, "1", &cla)],
            &[],
        ))
        .expect("eds");
}

/// An LDS push of one listener and its routes: a change that touches no cluster.
fn push_unrelated_listener(state: &mut XdsState, port: u32) {
    let l = http_listener(port, &port.to_string());
    state
        .apply(&response(
            LISTENER,
            vec![resource(LISTENER, &l.name, "2", &l)],
            &[],
        ))
        .expect("lds");
    state
        .apply(&response(
            ROUTE_CONFIGURATION,
            vec![route_config(&port.to_string())],
            &[],
        ))
        .expect("rds");
}

const HOSTS: [&str; 3] = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];

#[test]
fn round_robin_goes_on_where_it_was_across_a_push_that_does_not_touch_the_cluster() {
    let mut state = XdsState::default();
    let c = eds_cluster("outbound|80||web", cluster::LbPolicy::RoundRobin);
    accept_cluster(&mut state, &c);
    accept_endpoints(&mut state, &c.name, &HOSTS);
    state.apply(&response(LISTENER, vec![], &[])).expect("lds");
    let first = state.snapshot(&Snapshot::default());
    let picked = |s: &Snapshot| {
        s.clusters[&c.name]
            .pick(None, None, None)
            .expect("a host")
            .address
    };
    let before = picked(&first);

    push_unrelated_listener(&mut state, 9090);
    let second = state.snapshot(&first);
    assert!(
        Arc::ptr_eq(&first.clusters[&c.name], &second.clusters[&c.name]),
        "an untouched cluster is the previous snapshot's own"
    );
    assert_ne!(
        picked(&second),
        before,
        "the rotation continues: a reset would start at the same host again"
    );
}

#[test]
fn requests_in_flight_still_count_for_least_request_after_an_unrelated_push() {
    let mut state = XdsState::default();
    let c = eds_cluster("outbound|80||web", cluster::LbPolicy::LeastRequest);
    accept_cluster(&mut state, &c);
    accept_endpoints(&mut state, &c.name, &HOSTS);
    state.apply(&response(LISTENER, vec![], &[])).expect("lds");
    let first = state.snapshot(&Snapshot::default());
    let in_flight = first.clusters[&c.name]
        .pick(None, None, None)
        .expect("a host");

    push_unrelated_listener(&mut state, 9090);
    let second = state.snapshot(&first);
    let counts: Vec<u64> = second.clusters[&c.name]
        .balancer
        .lock()
        .expect("balancer")
        .endpoints()
        .iter()
        .map(|e| e.active_requests)
        .collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        1,
        "the request to {} is still counted: {counts:?}",
        in_flight.address
    );
    drop(in_flight);
}

#[test]
fn an_endpoint_change_rebuilds_the_balancer_but_keeps_the_pool_and_outlier_state() {
    let mut state = XdsState::default();
    let c = eds_cluster("outbound|80||web", cluster::LbPolicy::RoundRobin);
    accept_cluster(&mut state, &c);
    accept_endpoints(&mut state, &c.name, &HOSTS);
    state.apply(&response(LISTENER, vec![], &[])).expect("lds");
    let first = state.snapshot(&Snapshot::default());
    accept_endpoints(&mut state, &c.name, &HOSTS[..2]);
    let second = state.snapshot(&first);
    let (before, after) = (&first.clusters[&c.name], &second.clusters[&c.name]);
    assert!(!Arc::ptr_eq(before, after), "new endpoints, new balancer");
    assert_eq!(after.endpoints.len(), 2);
    assert!(Arc::ptr_eq(&before.runtime, &after.runtime));
    assert!(Arc::ptr_eq(&before.config, &after.config));
}
