//! Listener conversion: served shapes (bound HTTP, capture listeners, TCP proxy
//! chains) and precise refusals.

use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChainMatch as FilterChainMatchProto, ListenerFilter, filter,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::{Any, BoolValue, Duration as ProtoDuration, UInt32Value};
use prost::Message;

use super::*;
use crate::config::network_filter::HCM;
use crate::config::{RouteSource, TcpClusters};

const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";

fn address(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

fn hcm(filter_type: &str) -> Filter {
    let hcm = HttpConnectionManager {
        stat_prefix: "outbound_0.0.0.0_8080".into(),
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            route_config_name: "8080".into(),
            ..Default::default()
        })),
        http_filters: vec![HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(Any {
                type_url: filter_type.into(),
                value: vec![],
            })),
            ..Default::default()
        }],
        normalize_path: Some(BoolValue { value: true }),
        ..Default::default()
    };
    Filter {
        name: "envoy.filters.network.http_connection_manager".into(),
        config_type: Some(filter::ConfigType::TypedConfig(Any {
            type_url: HCM.into(),
            value: hcm.encode_to_vec(),
        })),
    }
}

fn tcp(proxy: TcpProxy) -> Filter {
    Filter {
        name: "envoy.filters.network.tcp_proxy".into(),
        config_type: Some(filter::ConfigType::TypedConfig(Any {
            type_url: "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
                .into(),
            value: proxy.encode_to_vec(),
        })),
    }
}

fn to_cluster(name: &str) -> TcpProxy {
    TcpProxy {
        stat_prefix: name.into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(name.into())),
        ..Default::default()
    }
}

fn chain(name: &str, m: Option<FilterChainMatchProto>, filter: Filter) -> FilterChain {
    FilterChain {
        name: name.into(),
        filter_chain_match: m,
        filters: vec![filter],
        ..Default::default()
    }
}

fn bound(filter: Filter) -> Listener {
    Listener {
        name: "10.0.0.2_8080".into(),
        address: address("10.0.0.2", 8080),
        filter_chains: vec![chain("", None, filter)],
        ..Default::default()
    }
}

fn any_filter(name: &str, type_url: &str) -> ListenerFilter {
    ListenerFilter {
        name: name.into(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(Any {
            type_url: type_url.into(),
            value: vec![],
        })),
        ..Default::default()
    }
}

#[test]
fn a_bound_egress_listener_serves_http_with_rds() {
    let l = build_listener(&bound(hcm(ROUTER))).expect("accepted");
    assert_eq!(l.address.to_string(), "10.0.0.2:8080");
    assert!(l.bind_to_port && !l.hand_off);
    let [c] = l.filter_chains.as_slice() else {
        panic!("one chain")
    };
    let NetworkFilter::Http(hcm) = &c.filter else {
        panic!("http")
    };
    assert!(matches!(hcm.routes, RouteSource::Rds(ref n) if n == "8080"));
    assert!(hcm.normalize_path && !hcm.use_remote_address);
    // Envoy's defaults where the connection manager sets none.
    assert_eq!(hcm.http_filters, [crate::config::HttpFilter::Router]);
    assert_eq!(hcm.max_request_headers_bytes, 60 * 1024);
    assert_eq!(hcm.max_headers_count, 100);
    assert_eq!(
        hcm.request_headers_timeout,
        Some(std::time::Duration::from_secs(300)),
        "stream_idle_timeout's 5 minutes"
    );
}

#[test]
fn an_unknown_http_filter_is_refused_by_name() {
    let err =
        build_listener(&bound(hcm("type.googleapis.com/acme.Filter"))).expect_err("unknown filter");
    assert!(
        err.contains("10.0.0.2_8080") && err.contains("acme.Filter"),
        "{err}"
    );
}

#[test]
fn virtual_outbound_hands_off_and_port_listeners_are_not_bound() {
    let mut outbound = bound(tcp(to_cluster("PassthroughCluster")));
    outbound.name = "virtualOutbound".into();
    outbound.address = address("0.0.0.0", 15001);
    outbound.use_original_dst = Some(BoolValue { value: true });
    let l = build_listener(&outbound).expect("accepted");
    assert!(l.hand_off && l.listener_filters.original_dst && l.bind_to_port);

    let mut port = bound(tcp(to_cluster("BlackHoleCluster")));
    port.bind_to_port = Some(BoolValue { value: false });
    port.listener_filters = vec![any_filter(
        "envoy.filters.listener.http_inspector",
        HTTP_INSPECTOR,
    )];
    let l = build_listener(&port).expect("accepted");
    assert!(!l.bind_to_port && !l.hand_off && l.listener_filters.http_inspector);
    // Envoy's defaults: 15 s, then close.
    assert_eq!(l.listener_filters.timeout, Some(Duration::from_secs(15)));
    assert!(!l.listener_filters.continue_on_timeout);
}

#[test]
fn tcp_proxy_takes_envoys_idle_timeout_default_and_weighted_clusters() {
    let l = build_listener(&bound(tcp(to_cluster("outbound|9000||db")))).expect("accepted");
    let NetworkFilter::TcpProxy(p) = &l.filter_chains[0].filter else {
        panic!("tcp")
    };
    assert_eq!(p.idle_timeout, Some(Duration::from_secs(3600)));
    assert_eq!(p.clusters, TcpClusters::Cluster("outbound|9000||db".into()));

    let mut weighted = to_cluster("db");
    weighted.idle_timeout = Some(ProtoDuration::default());
    weighted.cluster_specifier = Some(tcp_proxy::ClusterSpecifier::WeightedClusters(
        tcp_proxy::WeightedCluster {
            clusters: vec![
                tcp_proxy::weighted_cluster::ClusterWeight {
                    name: "a".into(),
                    weight: 80,
                    ..Default::default()
                },
                tcp_proxy::weighted_cluster::ClusterWeight {
                    name: "b".into(),
                    weight: 20,
                    ..Default::default()
                },
            ],
        },
    ));
    let l = build_listener(&bound(tcp(weighted))).expect("accepted");
    let NetworkFilter::TcpProxy(p) = &l.filter_chains[0].filter else {
        panic!("tcp")
    };
    assert_eq!(p.idle_timeout, None, "0s disables it");
    assert_eq!(
        p.clusters,
        TcpClusters::Weighted(vec![("a".into(), 80), ("b".into(), 20)])
    );
}

#[test]
fn unsupported_tcp_proxy_and_listener_filters_are_refused_by_name() {
    let mut p = to_cluster("db");
    p.hash_policy = vec![Default::default()];
    let err = build_listener(&bound(tcp(p))).expect_err("hash_policy");
    assert!(
        err.contains("10.0.0.2_8080") && err.contains("hash_policy"),
        "{err}"
    );

    let mut l = bound(tcp(to_cluster("db")));
    l.listener_filters = vec![any_filter("proxy_protocol", "type.googleapis.com/acme.Pp")];
    let err = build_listener(&l).expect_err("unknown listener filter");
    assert!(
        err.contains("proxy_protocol") && err.contains("acme.Pp"),
        "{err}"
    );
}

#[test]
fn two_chains_with_the_same_match_are_refused() {
    let m = FilterChainMatchProto {
        destination_port: Some(UInt32Value { value: 9000 }),
        ..Default::default()
    };
    let mut l = bound(tcp(to_cluster("a")));
    l.filter_chains = vec![
        chain("a", Some(m.clone()), tcp(to_cluster("a"))),
        chain("b", Some(m), tcp(to_cluster("b"))),
    ];
    let err = build_listener(&l).expect_err("duplicate");
    assert!(err.contains("\"a\"") && err.contains("\"b\""), "{err}");
}
