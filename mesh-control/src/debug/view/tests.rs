//! The views of real Envoy resources survive the trip meshctl makes: serialized by
//! the control plane, read back as the types of `mesh_api::debug`, equal. A field
//! added on one side only, or a wire form serde cannot read back (the flattened
//! path and cluster specifiers, the untagged dump entries), fails here.

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, OutlierDetection, circuit_breakers, cluster,
};
use envoy_types::pb::envoy::config::core::v3::CidrRange;
use envoy_types::pb::envoy::config::core::v3::{
    Address, DataSource, HealthStatus, Locality, SocketAddress, address, data_source,
    socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, HeaderMatcher, QueryParameterMatcher, RedirectAction, RetryPolicy, Route,
    RouteAction, RouteConfiguration, RouteMatch, VirtualHost, WeightedCluster, header_matcher,
    redirect_action, route, route_action, route_match, weighted_cluster,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Any, BoolValue, Duration, UInt32Value};
use mesh_api::debug::{
    ActionView, ClusterSpecifierView, ClusterView, DumpedResource, PathMatchView,
    UndecodableResource,
};
use prost::{Message, Name};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

/// Serializes `view` as the endpoint does and reads it back as meshctl does.
fn round_trip<V: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(view: &V) -> V {
    let json = serde_json::to_vec_pretty(view).expect("a view serializes");
    let back: V = serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&json)));
    assert_eq!(&back, view, "{}", String::from_utf8_lossy(&json));
    // Inside a dump entry too, where the view is one arm of an untagged enum.
    let entry = DumpedResource::Decoded(back);
    let json = serde_json::to_vec(&entry).expect("a dump entry serializes");
    match serde_json::from_slice(&json) {
        Ok(DumpedResource::Decoded(back)) => back,
        other => panic!("{other:?}\n{}", String::from_utf8_lossy(&json)),
    }
}

fn any<T: Message + Name>(message: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: message.encode_to_vec(),
    }
}

fn socket(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

fn seconds(seconds: i64, nanos: i32) -> Option<Duration> {
    Some(Duration { seconds, nanos })
}

fn u32_value(value: u32) -> Option<UInt32Value> {
    Some(UInt32Value { value })
}

fn network_filter<T: Message + Name>(name: &str, config: &T) -> Filter {
    Filter {
        name: name.to_string(),
        config_type: Some(filter::ConfigType::TypedConfig(any(config))),
    }
}

/// An outbound listener: an HTTP chain over RDS, a weighted TCP chain, and an
/// inline-routes default chain.
fn listener() -> Listener {
    let hcm = |route_specifier| HttpConnectionManager {
        route_specifier: Some(route_specifier),
        http_filters: ["envoy.filters.http.fault", "envoy.filters.http.router"]
            .map(|name| HttpFilter {
                name: name.to_string(),
                ..Default::default()
            })
            .to_vec(),
        ..Default::default()
    };
    let rds = hcm(http_connection_manager::RouteSpecifier::Rds(Rds {
        route_config_name: "9080".to_string(),
        ..Default::default()
    }));
    let inline = hcm(http_connection_manager::RouteSpecifier::RouteConfig(
        RouteConfiguration {
            name: "inline".to_string(),
            ..Default::default()
        },
    ));
    let tcp = TcpProxy {
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::WeightedClusters(
            tcp_proxy::WeightedCluster {
                clusters: ["outbound|9080|v1|db", "outbound|9080|v2|db"]
                    .map(|name| tcp_proxy::weighted_cluster::ClusterWeight {
                        name: name.to_string(),
                        weight: 50,
                        ..Default::default()
                    })
                    .to_vec(),
            },
        )),
        ..Default::default()
    };
    Listener {
        name: "0.0.0.0_9080".to_string(),
        address: Some(socket("0.0.0.0", 9080)),
        use_original_dst: Some(BoolValue { value: true }),
        listener_filters: vec![ListenerFilter {
            name: "envoy.filters.listener.http_inspector".to_string(),
            ..Default::default()
        }],
        filter_chains: vec![
            FilterChain {
                name: "http".to_string(),
                filter_chain_match: Some(FilterChainMatch {
                    destination_port: u32_value(9080),
                    application_protocols: vec!["http/1.1".to_string(), "h2c".to_string()],
                    ..Default::default()
                }),
                filters: vec![network_filter(
                    "envoy.filters.network.http_connection_manager",
                    &rds,
                )],
                ..Default::default()
            },
            FilterChain {
                name: "tcp".to_string(),
                filter_chain_match: Some(FilterChainMatch {
                    prefix_ranges: vec![CidrRange {
                        address_prefix: "10.96.0.1".to_string(),
                        prefix_len: u32_value(32),
                    }],
                    server_names: vec!["db.example".to_string()],
                    transport_protocol: "raw_buffer".to_string(),
                    ..Default::default()
                }),
                filters: vec![network_filter("envoy.filters.network.tcp_proxy", &tcp)],
                ..Default::default()
            },
        ],
        default_filter_chain: Some(FilterChain {
            filters: vec![network_filter(
                "envoy.filters.network.http_connection_manager",
                &inline,
            )],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn header(name: &str, value: &str, invert_match: bool) -> HeaderMatcher {
    HeaderMatcher {
        name: name.to_string(),
        invert_match,
        header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(
            StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact(value.to_string())),
                ignore_case: false,
            },
        )),
        ..Default::default()
    }
}

fn path_match(path: route_match::PathSpecifier) -> Option<RouteMatch> {
    Some(RouteMatch {
        path_specifier: Some(path),
        ..Default::default()
    })
}

/// Routes with every kind of match and action the view summarises.
fn route_configuration() -> RouteConfiguration {
    let weighted = RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::WeightedClusters(
            WeightedCluster {
                clusters: [("v1", 80), ("v3", 20)]
                    .map(|(subset, weight)| weighted_cluster::ClusterWeight {
                        name: format!("outbound|9080|{subset}|reviews.bookinfo.svc.cluster.local"),
                        weight: u32_value(weight),
                        ..Default::default()
                    })
                    .to_vec(),
                ..Default::default()
            },
        )),
        timeout: seconds(15, 0),
        prefix_rewrite: "/v2/".to_string(),
        host_rewrite_specifier: Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(
            "reviews.internal".to_string(),
        )),
        retry_policy: Some(RetryPolicy {
            retry_on: "5xx,connect-failure".to_string(),
            num_retries: u32_value(3),
            per_try_timeout: seconds(0, 250_000_000),
            retriable_status_codes: vec![503],
            ..Default::default()
        }),
        request_mirror_policies: vec![route_action::RequestMirrorPolicy {
            cluster: "outbound|9080|v2|reviews.bookinfo.svc.cluster.local".to_string(),
            ..Default::default()
        }],
        hash_policy: vec![route_action::HashPolicy {
            policy_specifier: Some(route_action::hash_policy::PolicySpecifier::Header(
                route_action::hash_policy::Header {
                    header_name: "x-user".to_string(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }],
        ..Default::default()
    };
    let to_cluster = RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
            "outbound|9080||ratings.bookinfo.svc.cluster.local".to_string(),
        )),
        timeout: seconds(0, 0),
        ..Default::default()
    };
    let routes = vec![
        Route {
            name: "jason".to_string(),
            r#match: Some(RouteMatch {
                path_specifier: Some(route_match::PathSpecifier::Prefix("/".to_string())),
                case_sensitive: Some(BoolValue { value: false }),
                headers: vec![
                    header("end-user", "jason", false),
                    header("x-test", "no", true),
                ],
                query_parameters: vec![QueryParameterMatcher {
                    name: "debug".to_string(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            action: Some(route::Action::Route(weighted)),
            ..Default::default()
        },
        Route {
            name: "by-id".to_string(),
            r#match: path_match(route_match::PathSpecifier::SafeRegex(RegexMatcher {
                regex: "^/api/v1/reviews/[0-9a-f-]+$".to_string(),
                ..Default::default()
            })),
            action: Some(route::Action::Route(to_cluster)),
            ..Default::default()
        },
        Route {
            r#match: path_match(route_match::PathSpecifier::Path("/old".to_string())),
            action: Some(route::Action::Redirect(RedirectAction {
                host_redirect: "new.example".to_string(),
                port_redirect: 8443,
                response_code: redirect_action::RedirectResponseCode::Found as i32,
                path_rewrite_specifier: Some(redirect_action::PathRewriteSpecifier::PathRedirect(
                    "/new".to_string(),
                )),
                ..Default::default()
            })),
            ..Default::default()
        },
        Route {
            r#match: path_match(route_match::PathSpecifier::PathSeparatedPrefix(
                "/teapot".to_string(),
            )),
            action: Some(route::Action::DirectResponse(DirectResponseAction {
                status: 418,
                body: Some(DataSource {
                    specifier: Some(data_source::Specifier::InlineString(
                        "short and stout".into(),
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        },
        // Neither a match nor an action: shown, not dropped.
        Route::default(),
    ];
    RouteConfiguration {
        name: "9080".to_string(),
        virtual_hosts: vec![VirtualHost {
            name: "reviews.bookinfo.svc.cluster.local:9080".to_string(),
            domains: vec![
                "reviews.bookinfo.svc.cluster.local".to_string(),
                "reviews".to_string(),
                "reviews.bookinfo".to_string(),
            ],
            routes,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An EDS cluster with circuit breakers and outlier detection.
fn cluster() -> Cluster {
    Cluster {
        name: "outbound|9080|v1|reviews.bookinfo.svc.cluster.local".to_string(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        lb_policy: cluster::LbPolicy::LeastRequest as i32,
        connect_timeout: seconds(1, 500_000_000),
        circuit_breakers: Some(CircuitBreakers {
            thresholds: vec![circuit_breakers::Thresholds {
                max_connections: u32_value(100),
                max_requests: u32_value(1000),
                ..Default::default()
            }],
            ..Default::default()
        }),
        outlier_detection: Some(OutlierDetection {
            consecutive_5xx: u32_value(5),
            interval: seconds(10, 0),
            base_ejection_time: seconds(30, 0),
            max_ejection_percent: u32_value(50),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Endpoints in one locality, one with a weight and a health status.
fn cluster_load_assignment() -> ClusterLoadAssignment {
    let endpoint = |ip: &str, weight, health: HealthStatus| LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(socket(ip, 9080)),
            ..Default::default()
        })),
        load_balancing_weight: weight,
        health_status: health as i32,
        ..Default::default()
    };
    ClusterLoadAssignment {
        cluster_name: "outbound|9080|v1|reviews.bookinfo.svc.cluster.local".to_string(),
        endpoints: vec![LocalityLbEndpoints {
            locality: Some(Locality {
                region: "eu".to_string(),
                zone: "eu-1".to_string(),
                ..Default::default()
            }),
            lb_endpoints: vec![
                endpoint("10.0.0.1", u32_value(3), HealthStatus::Healthy),
                endpoint("10.0.0.2", None, HealthStatus::Unknown),
            ],
            priority: 1,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn listener_views_read_back_equal() {
    let view = round_trip(&listener_view(&listener(), "v1".into()));
    assert_eq!(
        view.filter_chains[0].chain_match.destination_port,
        Some(9080)
    );
    assert_eq!(view.filter_chains[1].filters[0].clusters.len(), 2);
    let default = view.default_filter_chain.expect("the default chain");
    assert_eq!(
        default.filters[0].route_config.as_deref(),
        Some("inline (inline)")
    );
}

#[test]
fn route_views_read_back_equal() {
    let view = round_trip(&route_configuration_view(
        &route_configuration(),
        "v1".into(),
    ));
    let routes = &view.virtual_hosts[0].routes;
    assert_eq!(
        routes[0].route_match.path,
        Some(PathMatchView::Prefix("/".into()))
    );
    let ActionView::Route(weighted) = &routes[0].action else {
        panic!("{:?}", routes[0].action);
    };
    assert!(matches!(
        &weighted.cluster,
        Some(ClusterSpecifierView::WeightedClusters(w)) if w.len() == 2
    ));
    assert!(matches!(routes[2].action, ActionView::Redirect(_)));
    assert!(matches!(routes[3].action, ActionView::DirectResponse(_)));
    assert!(matches!(routes[4].action, ActionView::Other(_)));
    assert_eq!(routes[4].route_match, Default::default());
}

#[test]
fn cluster_and_endpoint_views_read_back_equal() {
    let view = round_trip(&cluster_view(&cluster(), "v1".into()));
    assert_eq!(view.discovery_type, "EDS");
    assert_eq!(view.connect_timeout.as_deref(), Some("1.5s"));
    let view = round_trip(&endpoints_view(&cluster_load_assignment(), "v1".into()));
    assert_eq!(view.endpoints[0].locality.as_deref(), Some("eu/eu-1"));
    assert_eq!(view.endpoints[0].health_status, "HEALTHY");
}

#[test]
fn an_undecodable_resource_reads_back_as_one() {
    let entry: DumpedResource<ClusterView> = DumpedResource::Undecodable(UndecodableResource {
        name: "broken".into(),
        version: "v1".into(),
        decode_error: "failed to decode Protobuf message".into(),
    });
    let json = serde_json::to_vec(&entry).expect("an entry serializes");
    let back: DumpedResource<ClusterView> =
        serde_json::from_slice(&json).expect("an entry deserializes");
    assert_eq!(back, entry);
}

#[test]
fn durations_read_like_envoys() {
    let d = |seconds, nanos| duration_text(&Duration { seconds, nanos });
    assert_eq!(d(5, 0), "5s");
    assert_eq!(d(1, 500_000_000), "1.5s");
    assert_eq!(d(0, 250_000_000), "0.25s");
}
