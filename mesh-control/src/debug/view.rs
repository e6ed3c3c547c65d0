//! Serde summaries of Envoy resources for `/debug/config_dump`: the fields a person
//! debugging routing looks at first. Each view also carries the full message as
//! `proto` (its Debug form), since prost types do not implement serde.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, DataSource, address, data_source, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, redirect_action, route,
    route_action, route_match,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::Duration;
use prost::Message;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct ListenerView {
    name: String,
    address: Option<String>,
    use_original_dst: bool,
    listener_filters: Vec<String>,
    filter_chains: Vec<FilterChainView>,
    default_filter_chain: Option<FilterChainView>,
    proto: String,
}

#[derive(Debug, Serialize)]
struct FilterChainView {
    name: String,
    /// `filter_chain_match`, only the fields that are set.
    #[serde(rename = "match")]
    chain_match: serde_json::Map<String, serde_json::Value>,
    filters: Vec<FilterView>,
}

#[derive(Debug, Serialize)]
struct FilterView {
    name: String,
    /// The RouteConfiguration an HTTP connection manager loads over RDS.
    #[serde(skip_serializing_if = "Option::is_none")]
    route_config: Option<String>,
    /// The HTTP filters of an HTTP connection manager.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    http_filters: Vec<String>,
    /// The upstream cluster(s) of a TCP proxy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    clusters: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct RouteConfigurationView {
    name: String,
    virtual_hosts: Vec<VirtualHostView>,
    proto: String,
}

#[derive(Debug, Serialize)]
struct VirtualHostView {
    name: String,
    domains: Vec<String>,
    routes: Vec<RouteView>,
}

#[derive(Debug, Serialize)]
struct RouteView {
    name: String,
    #[serde(rename = "match")]
    route_match: serde_json::Map<String, serde_json::Value>,
    action: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub(crate) struct ClusterView {
    name: String,
    #[serde(rename = "type")]
    discovery_type: String,
    lb_policy: String,
    connect_timeout: Option<String>,
    circuit_breakers: Vec<serde_json::Value>,
    outlier_detection: Option<serde_json::Value>,
    proto: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct EndpointsView {
    cluster_name: String,
    endpoints: Vec<EndpointView>,
    proto: String,
}

#[derive(Debug, Serialize)]
struct EndpointView {
    address: Option<String>,
    weight: Option<u32>,
    locality: Option<String>,
    priority: u32,
    health_status: String,
}

impl ListenerView {
    pub(crate) fn new(l: &Listener) -> ListenerView {
        ListenerView {
            name: l.name.clone(),
            address: l.address.as_ref().and_then(address_text),
            use_original_dst: l.use_original_dst.is_some_and(|b| b.value),
            listener_filters: l.listener_filters.iter().map(|f| f.name.clone()).collect(),
            filter_chains: l.filter_chains.iter().map(filter_chain).collect(),
            default_filter_chain: l.default_filter_chain.as_ref().map(filter_chain),
            proto: format!("{l:?}"),
        }
    }
}

fn filter_chain(chain: &FilterChain) -> FilterChainView {
    let mut chain_match = serde_json::Map::new();
    if let Some(m) = &chain.filter_chain_match {
        let mut put = |key: &str, value: serde_json::Value| {
            chain_match.insert(key.to_string(), value);
        };
        if let Some(port) = m.destination_port {
            put("destination_port", port.value.into());
        }
        if !m.prefix_ranges.is_empty() {
            let ranges = m.prefix_ranges.iter().map(|r| {
                format!(
                    "{}/{}",
                    r.address_prefix,
                    r.prefix_len.map_or(32, |l| l.value)
                )
            });
            put("prefix_ranges", ranges.collect::<Vec<_>>().into());
        }
        if !m.server_names.is_empty() {
            put("server_names", m.server_names.clone().into());
        }
        if !m.transport_protocol.is_empty() {
            put("transport_protocol", m.transport_protocol.clone().into());
        }
        if !m.application_protocols.is_empty() {
            put(
                "application_protocols",
                m.application_protocols.clone().into(),
            );
        }
    }
    FilterChainView {
        name: chain.name.clone(),
        chain_match,
        filters: chain
            .filters
            .iter()
            .map(|f| {
                let mut view = FilterView {
                    name: f.name.clone(),
                    route_config: None,
                    http_filters: Vec::new(),
                    clusters: Vec::new(),
                };
                let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
                    return view;
                };
                if any.type_url.ends_with(".HttpConnectionManager") {
                    if let Ok(hcm) = HttpConnectionManager::decode(any.value.as_slice()) {
                        view.route_config = match hcm.route_specifier {
                            Some(http_connection_manager::RouteSpecifier::Rds(rds)) => {
                                Some(rds.route_config_name)
                            }
                            Some(http_connection_manager::RouteSpecifier::RouteConfig(rc)) => {
                                Some(format!("{} (inline)", rc.name))
                            }
                            _ => None,
                        };
                        view.http_filters = hcm.http_filters.into_iter().map(|f| f.name).collect();
                    }
                } else if any.type_url.ends_with(".TcpProxy")
                    && let Ok(tcp) = TcpProxy::decode(any.value.as_slice())
                {
                    view.clusters = match tcp.cluster_specifier {
                        Some(tcp_proxy::ClusterSpecifier::Cluster(c)) => vec![c],
                        Some(tcp_proxy::ClusterSpecifier::WeightedClusters(w)) => w
                            .clusters
                            .into_iter()
                            .map(|c| format!("{} (weight {})", c.name, c.weight))
                            .collect(),
                        None => Vec::new(),
                    };
                }
                view
            })
            .collect(),
    }
}

impl RouteConfigurationView {
    pub(crate) fn new(rc: &RouteConfiguration) -> RouteConfigurationView {
        RouteConfigurationView {
            name: rc.name.clone(),
            virtual_hosts: rc.virtual_hosts.iter().map(virtual_host).collect(),
            proto: format!("{rc:?}"),
        }
    }
}

fn virtual_host(vh: &VirtualHost) -> VirtualHostView {
    VirtualHostView {
        name: vh.name.clone(),
        domains: vh.domains.clone(),
        routes: vh.routes.iter().map(route_view).collect(),
    }
}

fn route_view(r: &Route) -> RouteView {
    RouteView {
        name: r.name.clone(),
        route_match: r.r#match.as_ref().map(route_match_view).unwrap_or_default(),
        action: match &r.action {
            Some(route::Action::Route(a)) => route_action(a),
            Some(route::Action::Redirect(redirect)) => {
                let mut v = serde_json::json!({"redirect": {
                    "host": redirect.host_redirect,
                    "port": redirect.port_redirect,
                    "response_code": redirect.response_code,
                }});
                if let Some(redirect_action::PathRewriteSpecifier::PathRedirect(p)) =
                    &redirect.path_rewrite_specifier
                {
                    v["redirect"]["path"] = p.clone().into();
                }
                v
            }
            Some(route::Action::DirectResponse(d)) => serde_json::json!({"direct_response": {
                "status": d.status,
                "body": d.body.as_ref().map(data_source_text),
            }}),
            other => serde_json::json!({"other": format!("{other:?}")}),
        },
    }
}

fn route_match_view(m: &RouteMatch) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) => {
            out.insert("prefix".into(), p.clone().into())
        }
        Some(route_match::PathSpecifier::Path(p)) => out.insert("path".into(), p.clone().into()),
        Some(route_match::PathSpecifier::SafeRegex(r)) => {
            out.insert("regex".into(), r.regex.clone().into())
        }
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) => {
            out.insert("path_separated_prefix".into(), p.clone().into())
        }
        Some(other) => out.insert("path_specifier".into(), format!("{other:?}").into()),
        None => None,
    };
    if let Some(cs) = m.case_sensitive {
        out.insert("case_sensitive".into(), cs.value.into());
    }
    if !m.headers.is_empty() {
        let headers = m.headers.iter().map(|h| {
            let how = h
                .header_match_specifier
                .as_ref()
                .map_or_else(|| "present".to_string(), |s| format!("{s:?}"));
            let not = if h.invert_match { "not " } else { "" };
            format!("{}: {not}{how}", h.name)
        });
        out.insert("headers".into(), headers.collect::<Vec<_>>().into());
    }
    if !m.query_parameters.is_empty() {
        let params = m
            .query_parameters
            .iter()
            .map(|q| format!("{}: {:?}", q.name, q.query_parameter_match_specifier));
        out.insert("query_parameters".into(), params.collect::<Vec<_>>().into());
    }
    if let Some(f) = &m.runtime_fraction {
        out.insert(
            "runtime_fraction".into(),
            format!("{:?}", f.default_value).into(),
        );
    }
    out
}

fn route_action(a: &RouteAction) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    match &a.cluster_specifier {
        Some(route_action::ClusterSpecifier::Cluster(c)) => {
            v.insert("cluster".into(), c.clone().into());
        }
        Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
            let clusters = w
                .clusters
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "weight": c.weight.map(|w| w.value)}));
            v.insert(
                "weighted_clusters".into(),
                clusters.collect::<Vec<_>>().into(),
            );
        }
        Some(other) => {
            v.insert("cluster_specifier".into(), format!("{other:?}").into());
        }
        None => {}
    }
    if let Some(t) = &a.timeout {
        v.insert("timeout".into(), duration_text(t).into());
    }
    if !a.prefix_rewrite.is_empty() {
        v.insert("prefix_rewrite".into(), a.prefix_rewrite.clone().into());
    }
    if let Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(h)) =
        &a.host_rewrite_specifier
    {
        v.insert("host_rewrite".into(), h.clone().into());
    }
    if let Some(r) = &a.retry_policy {
        v.insert(
            "retry_policy".into(),
            serde_json::json!({
                "retry_on": r.retry_on,
                "num_retries": r.num_retries.map(|n| n.value),
                "per_try_timeout": r.per_try_timeout.as_ref().map(duration_text),
                "retriable_status_codes": r.retriable_status_codes,
            }),
        );
    }
    if !a.request_mirror_policies.is_empty() {
        let mirrors = a.request_mirror_policies.iter().map(|m| m.cluster.clone());
        v.insert("mirrors".into(), mirrors.collect::<Vec<_>>().into());
    }
    if !a.hash_policy.is_empty() {
        let policies = a
            .hash_policy
            .iter()
            .map(|h| format!("{:?}", h.policy_specifier));
        v.insert("hash_policy".into(), policies.collect::<Vec<_>>().into());
    }
    serde_json::json!({"route": v})
}

impl ClusterView {
    pub(crate) fn new(c: &Cluster) -> ClusterView {
        let discovery_type = match &c.cluster_discovery_type {
            Some(cluster::ClusterDiscoveryType::Type(t)) => cluster::DiscoveryType::try_from(*t)
                .map_or_else(|_| format!("UNKNOWN({t})"), |t| t.as_str_name().to_string()),
            Some(cluster::ClusterDiscoveryType::ClusterType(custom)) => custom.name.clone(),
            // The proto default.
            None => "STATIC".to_string(),
        };
        let lb_policy = cluster::LbPolicy::try_from(c.lb_policy).map_or_else(
            |_| format!("UNKNOWN({})", c.lb_policy),
            |p| p.as_str_name().to_string(),
        );
        let circuit_breakers = c
            .circuit_breakers
            .iter()
            .flat_map(|cb| &cb.thresholds)
            .map(|t| {
                serde_json::json!({
                    "priority": t.priority,
                    "max_connections": t.max_connections.map(|v| v.value),
                    "max_pending_requests": t.max_pending_requests.map(|v| v.value),
                    "max_requests": t.max_requests.map(|v| v.value),
                    "max_retries": t.max_retries.map(|v| v.value),
                })
            })
            .collect();
        let outlier_detection = c.outlier_detection.as_ref().map(|o| {
            serde_json::json!({
                "consecutive_5xx": o.consecutive_5xx.map(|v| v.value),
                "interval": o.interval.as_ref().map(duration_text),
                "base_ejection_time": o.base_ejection_time.as_ref().map(duration_text),
                "max_ejection_percent": o.max_ejection_percent.map(|v| v.value),
            })
        });
        ClusterView {
            name: c.name.clone(),
            discovery_type,
            lb_policy,
            connect_timeout: c.connect_timeout.as_ref().map(duration_text),
            circuit_breakers,
            outlier_detection,
            proto: format!("{c:?}"),
        }
    }
}

impl EndpointsView {
    pub(crate) fn new(cla: &ClusterLoadAssignment) -> EndpointsView {
        let endpoints = cla
            .endpoints
            .iter()
            .flat_map(|locality| {
                let name = locality.locality.as_ref().map(|l| {
                    [&l.region, &l.zone, &l.sub_zone]
                        .into_iter()
                        .filter(|s| !s.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("/")
                });
                locality.lb_endpoints.iter().map(move |e| EndpointView {
                    address: match &e.host_identifier {
                        Some(lb_endpoint::HostIdentifier::Endpoint(ep)) => {
                            ep.address.as_ref().and_then(address_text)
                        }
                        _ => None,
                    },
                    weight: e.load_balancing_weight.map(|w| w.value),
                    locality: name.clone().filter(|n| !n.is_empty()),
                    priority: locality.priority,
                    health_status:
                        envoy_types::pb::envoy::config::core::v3::HealthStatus::try_from(
                            e.health_status,
                        )
                        .map_or_else(
                            |_| e.health_status.to_string(),
                            |h| h.as_str_name().to_string(),
                        ),
                })
            })
            .collect();
        EndpointsView {
            cluster_name: cla.cluster_name.clone(),
            endpoints,
            proto: format!("{cla:?}"),
        }
    }
}

/// `10.0.0.1:8080`, `[fd00::1]:80`, `unix:///path`.
fn address_text(a: &Address) -> Option<String> {
    match a.address.as_ref()? {
        address::Address::SocketAddress(s) => {
            let port = match &s.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p.to_string(),
                Some(socket_address::PortSpecifier::NamedPort(n)) => n.clone(),
                None => "0".to_string(),
            };
            Some(if s.address.contains(':') {
                format!("[{}]:{port}", s.address)
            } else {
                format!("{}:{port}", s.address)
            })
        }
        address::Address::Pipe(p) => Some(format!("unix://{}", p.path)),
        address::Address::EnvoyInternalAddress(i) => Some(format!("internal:{i:?}")),
    }
}

fn data_source_text(d: &DataSource) -> String {
    match &d.specifier {
        Some(data_source::Specifier::InlineString(s)) => s.clone(),
        Some(data_source::Specifier::InlineBytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// `1.5s`, as Envoy's config dump writes durations.
fn duration_text(d: &Duration) -> String {
    if d.nanos == 0 {
        format!("{}s", d.seconds)
    } else {
        let text = format!("{}.{:09}", d.seconds, d.nanos);
        format!("{}s", text.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_envoys() {
        let d = |seconds, nanos| duration_text(&Duration { seconds, nanos });
        assert_eq!(d(5, 0), "5s");
        assert_eq!(d(1, 500_000_000), "1.5s");
        assert_eq!(d(0, 250_000_000), "0.25s");
    }
}
