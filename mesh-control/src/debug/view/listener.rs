//! Listener views: addresses, filter chains and what each chain's filters point at.

use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, filter,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use mesh_api::debug::{FilterChainMatchView, FilterChainView, ListenerView, NetworkFilterView};
use prost::Message;

use super::address_text;

pub(crate) fn listener_view(l: &Listener, version: String) -> ListenerView {
    ListenerView {
        name: l.name.clone(),
        version,
        address: l.address.as_ref().and_then(address_text),
        use_original_dst: l.use_original_dst.is_some_and(|b| b.value),
        listener_filters: l.listener_filters.iter().map(|f| f.name.clone()).collect(),
        filter_chains: l.filter_chains.iter().map(filter_chain).collect(),
        default_filter_chain: l.default_filter_chain.as_ref().map(filter_chain),
        proto: format!("{l:?}"),
    }
}

fn filter_chain(chain: &FilterChain) -> FilterChainView {
    FilterChainView {
        name: chain.name.clone(),
        chain_match: chain
            .filter_chain_match
            .as_ref()
            .map(chain_match)
            .unwrap_or_default(),
        filters: chain.filters.iter().map(network_filter).collect(),
    }
}

fn chain_match(m: &FilterChainMatch) -> FilterChainMatchView {
    let non_empty = |s: &String| Some(s.clone()).filter(|s| !s.is_empty());
    FilterChainMatchView {
        destination_port: m.destination_port.map(|p| p.value),
        prefix_ranges: m
            .prefix_ranges
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r.address_prefix,
                    r.prefix_len.map_or(32, |l| l.value)
                )
            })
            .collect(),
        server_names: m.server_names.clone(),
        transport_protocol: non_empty(&m.transport_protocol),
        application_protocols: m.application_protocols.clone(),
    }
}

fn network_filter(f: &Filter) -> NetworkFilterView {
    let mut view = NetworkFilterView {
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
}
