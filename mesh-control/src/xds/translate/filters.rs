//! Network and listener filters: the HTTP connection manager (with its HTTP filter
//! chain), the TCP proxy, and the listener filters that inspect connections.

use envoy_types::pb::envoy::config::listener::v3::{
    Filter, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::Cors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::BoolValue;

use super::names::{
    CORS, FAULT, HTTP_CONNECTION_MANAGER, HTTP_INSPECTOR, ORIGINAL_DST, ROUTER, TCP_PROXY,
    TLS_INSPECTOR,
};
use super::proto::{ads_config_source, any};

/// Where an HTTP connection manager gets its routes.
#[derive(Debug)]
pub(crate) enum RouteSource {
    /// RDS over ADS, by route config name (outbound listeners).
    Rds(String),
    /// Inline (inbound listeners, whose routes depend only on the port).
    Inline(Box<RouteConfiguration>),
}

/// Where a TCP proxy sends connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TcpTarget {
    Cluster(String),
    /// Clusters with their weights, for weighted TCP routes.
    Weighted(Vec<(String, u32)>),
}

/// The HTTP connection manager with Istio's sidecar HTTP filters: fault and CORS
/// (configured per route through `typed_per_filter_config`), then the router.
pub(crate) fn http_connection_manager(stat_prefix: &str, routes: RouteSource) -> Filter {
    hcm_filter(&http_connection_manager_config(stat_prefix, routes))
}

/// An inbound HTTP connection manager. Behind the mesh's mTLS it tells the app who
/// called, as Istio's sidecars do: the caller's certificate (its SPIFFE ID as `URI`)
/// is appended to `x-forwarded-client-cert`. Without mTLS Envoy's default (SANITIZE)
/// stays: a header a plain-text caller wrote could otherwise claim any identity.
pub(crate) fn inbound_http_connection_manager(
    stat_prefix: &str,
    routes: RouteSource,
    mtls: bool,
) -> Filter {
    let mut hcm = http_connection_manager_config(stat_prefix, routes);
    if mtls {
        hcm.forward_client_cert_details =
            http_connection_manager::ForwardClientCertDetails::AppendForward as i32;
        hcm.set_current_client_cert_details =
            Some(http_connection_manager::SetCurrentClientCertDetails {
                subject: Some(BoolValue { value: true }),
                uri: true,
                dns: true,
                ..Default::default()
            });
    }
    hcm_filter(&hcm)
}

fn hcm_filter(hcm: &HttpConnectionManager) -> Filter {
    Filter {
        name: HTTP_CONNECTION_MANAGER.to_string(),
        config_type: Some(filter::ConfigType::TypedConfig(any(hcm))),
    }
}

fn http_connection_manager_config(stat_prefix: &str, routes: RouteSource) -> HttpConnectionManager {
    let route_specifier = match routes {
        RouteSource::Rds(name) => http_connection_manager::RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: name,
        }),
        RouteSource::Inline(config) => {
            http_connection_manager::RouteSpecifier::RouteConfig(*config)
        }
    };
    let http_filter = |name: &str, config| HttpFilter {
        name: name.to_string(),
        config_type: Some(http_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    };
    HttpConnectionManager {
        codec_type: http_connection_manager::CodecType::Auto as i32,
        stat_prefix: stat_prefix.to_string(),
        route_specifier: Some(route_specifier),
        http_filters: vec![
            http_filter(FAULT, any(&HttpFault::default())),
            http_filter(CORS, any(&Cors::default())),
            http_filter(ROUTER, any(&Router::default())),
        ],
        // Istio: the sidecar is not the edge; keep the caller's X-Forwarded-For.
        use_remote_address: Some(BoolValue { value: false }),
        normalize_path: Some(BoolValue { value: true }),
        upgrade_configs: vec![http_connection_manager::UpgradeConfig {
            upgrade_type: "websocket".to_string(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub(crate) fn tcp_proxy(stat_prefix: &str, target: TcpTarget) -> Filter {
    let cluster_specifier = match target {
        TcpTarget::Cluster(name) => tcp_proxy::ClusterSpecifier::Cluster(name),
        TcpTarget::Weighted(clusters) => {
            tcp_proxy::ClusterSpecifier::WeightedClusters(tcp_proxy::WeightedCluster {
                clusters: clusters
                    .into_iter()
                    .map(
                        |(name, weight)| tcp_proxy::weighted_cluster::ClusterWeight {
                            name,
                            weight,
                            ..Default::default()
                        },
                    )
                    .collect(),
            })
        }
    };
    let proxy = TcpProxy {
        stat_prefix: stat_prefix.to_string(),
        cluster_specifier: Some(cluster_specifier),
        ..Default::default()
    };
    Filter {
        name: TCP_PROXY.to_string(),
        config_type: Some(filter::ConfigType::TypedConfig(any(&proxy))),
    }
}

pub(crate) fn original_dst() -> ListenerFilter {
    listener_filter_of(ORIGINAL_DST, any(&OriginalDst::default()))
}

pub(crate) fn http_inspector() -> ListenerFilter {
    listener_filter_of(HTTP_INSPECTOR, any(&HttpInspector::default()))
}

/// How long a listener that sniffs the protocol waits for the client's first bytes
/// before it treats the connection as opaque TCP (Istio's `protocolDetectionTimeout`,
/// 100 ms before Istio disabled it by default). Without it, a client of a
/// server-first protocol (MySQL, SMTP) on a port without a declared protocol would
/// wait for the server's greeting until the 15 s listener filter timeout closed it.
pub(crate) const PROTOCOL_DETECTION_TIMEOUT: std::time::Duration =
    std::time::Duration::from_millis(100);

pub(crate) fn tls_inspector() -> ListenerFilter {
    listener_filter_of(TLS_INSPECTOR, any(&TlsInspector::default()))
}

fn listener_filter_of(
    name: &str,
    config: envoy_types::pb::google::protobuf::Any,
) -> ListenerFilter {
    ListenerFilter {
        name: name.to_string(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    }
}
