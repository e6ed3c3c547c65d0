//! The network filter of a filter chain: the HTTP connection manager or the TCP proxy.

use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use prost::Message;
use serde::Serialize;

use super::error::FieldError;
use super::forward_client_cert::{ForwardClientCert, forward_client_cert};
use super::http_filter::{HttpFilter, build_http_filters};
use crate::route::{RouteTable, build_route_table, proto_duration};

pub(super) const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TCP_PROXY: &str =
    "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
/// Envoy's `max_request_headers_kb` default.
const DEFAULT_MAX_REQUEST_HEADERS_KB: u32 = 60;
/// Envoy's `max_headers_count` default.
const DEFAULT_MAX_HEADERS_COUNT: u32 = 100;
/// Envoy's `stream_idle_timeout` default.
const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Envoy's TCP proxy `idle_timeout` when none is set.
const DEFAULT_TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

/// What a filter chain does with its connections.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum NetworkFilter {
    Http(#[serde(serialize_with = "shared")] Arc<HttpChain>),
    TcpProxy(#[serde(serialize_with = "shared")] Arc<TcpProxyConfig>),
}

/// An HTTP connection manager.
#[derive(Debug, Clone, Serialize)]
pub struct HttpChain {
    pub stat_prefix: String,
    pub routes: RouteSource,
    pub use_remote_address: bool,
    pub normalize_path: bool,
    /// The HTTP filters, in order; the router is the last.
    pub http_filters: Vec<HttpFilter>,
    /// Request headers (start line included) beyond this many bytes get 431
    /// (Envoy's `max_request_headers_kb`, 60 KiB by default).
    pub max_request_headers_bytes: usize,
    /// More request headers than this get 431 (Envoy's `max_headers_count`, 100).
    pub max_headers_count: usize,
    /// How long a request's headers may take from their first byte before the
    /// connection gets 408 and is closed: `request_headers_timeout`, else
    /// `stream_idle_timeout` (5 min by default), which in Envoy also bounds a stream
    /// whose headers never complete. `None`: no bound.
    #[serde(serialize_with = "secs")]
    pub request_headers_timeout: Option<Duration>,
    /// What happens to `x-forwarded-client-cert`.
    pub forward_client_cert: ForwardClientCert,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    Rds(String),
    #[serde(serialize_with = "inline_name")]
    Inline(Arc<RouteTable>),
}

/// `envoy.filters.network.tcp_proxy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TcpProxyConfig {
    pub stat_prefix: String,
    pub clusters: TcpClusters,
    /// Closes both sides after this long without bytes either way; `None` never.
    #[serde(serialize_with = "secs")]
    pub idle_timeout: Option<Duration>,
    /// Upstream connection attempts (Envoy's `max_connect_attempts`, at least 1).
    pub max_connect_attempts: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpClusters {
    Cluster(String),
    /// Clusters with their weights (none is 0).
    Weighted(Vec<(String, u32)>),
}

fn inline_name<S: serde::Serializer>(t: &Arc<RouteTable>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.name)
}

fn shared<T: Serialize, S: serde::Serializer>(v: &Arc<T>, s: S) -> Result<S::Ok, S::Error> {
    v.as_ref().serialize(s)
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// Converts the network filters of a chain: exactly one, the HTTP connection manager
/// or the TCP proxy. An error names the filter and the field.
pub fn build_network_filter(filters: &[Filter]) -> Result<NetworkFilter, FieldError> {
    let [f] = filters else {
        return Err(format!(
            "{} network filters: exactly one (http_connection_manager or tcp_proxy) is supported",
            filters.len()
        )
        .into());
    };
    network_filter(f).map_err(|e| e.at(format!("filter {:?}", f.name)))
}

fn network_filter(f: &Filter) -> Result<NetworkFilter, FieldError> {
    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        return Err("typed_config missing".into());
    };
    match any.type_url.as_str() {
        HCM => {
            let hcm = HttpConnectionManager::decode(any.value.as_slice())
                .map_err(|e| format!("cannot decode: {e}"))?;
            Ok(NetworkFilter::Http(Arc::new(http_connection_manager(hcm)?)))
        }
        TCP_PROXY => {
            let proxy = TcpProxy::decode(any.value.as_slice())
                .map_err(|e| format!("cannot decode: {e}"))?;
            Ok(NetworkFilter::TcpProxy(Arc::new(tcp_proxy_config(&proxy)?)))
        }
        other => Err(format!("type {other} is not supported yet").into()),
    }
}

fn http_connection_manager(hcm: HttpConnectionManager) -> Result<HttpChain, FieldError> {
    let http_filters = build_http_filters(&hcm.http_filters)?;
    let routes = match &hcm.route_specifier {
        Some(RouteSpecifier::Rds(rds)) => RouteSource::Rds(rds.route_config_name.clone()),
        Some(RouteSpecifier::RouteConfig(rc)) => {
            RouteSource::Inline(Arc::new(build_route_table(rc).map_err(|e| e.to_string())?))
        }
        _ => return Err("route_specifier: only rds and route_config are supported".into()),
    };
    let max_request_headers_kb = hcm
        .max_request_headers_kb
        .as_ref()
        .map_or(DEFAULT_MAX_REQUEST_HEADERS_KB, |v| v.value);
    let max_headers_count = hcm
        .common_http_protocol_options
        .as_ref()
        .and_then(|o| o.max_headers_count.as_ref())
        .map_or(DEFAULT_MAX_HEADERS_COUNT, |v| v.value);
    let nonzero = |d: &envoy_types::pb::google::protobuf::Duration| {
        Some(proto_duration(d)).filter(|d| !d.is_zero())
    };
    let stream_idle_timeout = match &hcm.stream_idle_timeout {
        None => Some(DEFAULT_STREAM_IDLE_TIMEOUT),
        Some(d) => nonzero(d),
    };
    let forward_client_cert = forward_client_cert(&hcm)?;
    Ok(HttpChain {
        forward_client_cert,
        stat_prefix: hcm.stat_prefix,
        routes,
        use_remote_address: hcm.use_remote_address.is_some_and(|b| b.value),
        normalize_path: hcm.normalize_path.is_some_and(|b| b.value),
        http_filters,
        max_request_headers_bytes: usize::try_from(max_request_headers_kb)
            .unwrap_or(usize::MAX)
            .saturating_mul(1024),
        max_headers_count: usize::try_from(max_headers_count).unwrap_or(usize::MAX),
        request_headers_timeout: hcm
            .request_headers_timeout
            .as_ref()
            .and_then(nonzero)
            .or(stream_idle_timeout),
    })
}

fn tcp_proxy_config(p: &TcpProxy) -> Result<TcpProxyConfig, FieldError> {
    let unsupported = [
        ("on_demand", p.on_demand.is_some()),
        ("metadata_match", p.metadata_match.is_some()),
        (
            "downstream_idle_timeout",
            p.downstream_idle_timeout.is_some(),
        ),
        ("upstream_idle_timeout", p.upstream_idle_timeout.is_some()),
        ("access_log", !p.access_log.is_empty()),
        ("backoff_options", p.backoff_options.is_some()),
        ("hash_policy", !p.hash_policy.is_empty()),
        ("tunneling_config", p.tunneling_config.is_some()),
        (
            "max_downstream_connection_duration",
            p.max_downstream_connection_duration.is_some(),
        ),
        ("proxy_protocol_tlvs", !p.proxy_protocol_tlvs.is_empty()),
        ("upstream_connect_mode", p.upstream_connect_mode != 0),
        ("max_early_data_bytes", p.max_early_data_bytes.is_some()),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(format!(
            "tcp_proxy {:?}: {field} is not supported yet",
            p.stat_prefix
        )
        .into());
    }
    let clusters = match &p.cluster_specifier {
        Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => TcpClusters::Cluster(c.clone()),
        Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => {
            if w.clusters.iter().any(|c| c.metadata_match.is_some()) {
                return Err("weighted_clusters: metadata_match is not supported yet".into());
            }
            let clusters: Vec<(String, u32)> = w
                .clusters
                .iter()
                .filter(|c| c.weight > 0)
                .map(|c| (c.name.clone(), c.weight))
                .collect();
            if clusters.is_empty() {
                return Err("weighted_clusters: every weight is 0".into());
            }
            TcpClusters::Weighted(clusters)
        }
        None => return Err("tcp_proxy: cluster_specifier missing".into()),
    };
    let idle_timeout = match &p.idle_timeout {
        None => Some(DEFAULT_TCP_IDLE_TIMEOUT),
        Some(d) => Some(proto_duration(d)).filter(|d| !d.is_zero()),
    };
    Ok(TcpProxyConfig {
        stat_prefix: p.stat_prefix.clone(),
        clusters,
        idle_timeout,
        max_connect_attempts: p
            .max_connect_attempts
            .as_ref()
            .map_or(1, |v| v.value.max(1)),
    })
}
