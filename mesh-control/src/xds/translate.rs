//! The translator: the mesh model plus one proxy's identity to that proxy's resources.
//!
//! Pure: no clocks, no sockets, no hash-map iteration order in the output. The shape
//! follows istiod's sidecar config: `virtualOutbound` (15001) hands captured
//! connections to per-port listeners `0.0.0.0_<port>` (HTTP connection manager + RDS
//! route config `<port>`, or TCP proxies by service VIP); `virtualInbound` (15006) has
//! a filter chain per port of the proxy's workload; clusters are
//! `outbound|<port>|<subset>|<fqdn>` (EDS) and `inbound|<port>||`. See `docs/xds.md`.

use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use mesh_api::model::MeshModel;

use super::node::ProxyNode;
use super::resources::ProxyResources;

mod clusters;
mod delegate;
mod destination;
mod endpoints;
mod filters;
mod http_policy;
mod http_route;
mod inbound;
mod listeners;
mod names;
mod proto;
mod route_match;
mod routes;
mod scope;
mod tcp_routes;
mod tls;
mod traffic_policy;

#[cfg(test)]
mod tests;

pub use names::{
    BLACK_HOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND,
    VIRTUAL_OUTBOUND, inbound_cluster_name, outbound_cluster_name,
};

/// Translates the model for one proxy. Pure: the same inputs give the same output.
pub fn translate(model: &MeshModel, proxy: &ProxyNode) -> ProxyResources {
    let scope = scope::ProxyScope::new(model, proxy);
    let mut listeners = listeners::outbound_listeners(&scope);
    listeners.push(inbound::virtual_inbound(&scope));
    let routes = routes::outbound_route_configs(&scope);
    let mut clusters = clusters::outbound_clusters(&scope);
    clusters.extend(inbound::inbound_clusters(&scope));
    let endpoints = endpoints::cluster_load_assignments(&scope);

    // Sorted by name; a name produced twice (two services claiming one listener
    // port, say) would be a NACK of the whole response, so the first one, in model
    // order, wins.
    ProxyResources {
        listeners: sorted_by_name(listeners, |l| &l.name),
        routes: sorted_by_name(routes, |r| &r.name),
        clusters: sorted_by_name(clusters, |c| &c.name),
        endpoints: sorted_by_name(endpoints, |e| &e.cluster_name),
    }
}

/// Only the ClusterLoadAssignments of [`translate`] (the same list, sorted by name):
/// for pushes that only change endpoints, without translating everything else.
pub fn translate_endpoints(model: &MeshModel, proxy: &ProxyNode) -> Vec<ClusterLoadAssignment> {
    let scope = scope::ProxyScope::new(model, proxy);
    sorted_by_name(endpoints::cluster_load_assignments(&scope), |e| {
        &e.cluster_name
    })
}

/// Sorts by name (stable) and drops later duplicates. Sorts indices rather than the
/// resources themselves: a `Cluster` is kilobytes, and moving thousands of them
/// O(n log n) times was the translator's largest cost.
fn sorted_by_name<T>(items: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| name(&items[a]).cmp(name(&items[b])));
    order.dedup_by(|a, b| name(&items[*a]) == name(&items[*b]));
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|i| slots.get_mut(i).and_then(Option::take))
        .collect()
}
