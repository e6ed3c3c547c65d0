//! Listener views: addresses, filter chains and what each chain's filters point at.

use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use prost::Message;
use serde::Serialize;

use super::address_text;

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
