//! The translator: the mesh model plus one proxy's identity to that proxy's resources.
//!
//! Pure: no clocks, no sockets, no hash-map iteration order in the output. The shape
//! follows istiod's sidecar config: `virtualOutbound` (15001) hands captured
//! connections to per-port listeners `0.0.0.0_<port>` (HTTP connection manager + RDS
//! route config `<port>`, or TCP proxies by service VIP); `virtualInbound` (15006) has
//! a filter chain per port of the proxy's workload; clusters are
//! `outbound|<port>|<subset>|<fqdn>` (EDS) and `inbound|<port>||`. See `docs/xds.md`.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use mesh_api::model::MeshModel;
use mesh_api::object::ObjectRef;

use super::node::{ProxyKind, ProxyNode};
use super::resources::ProxyResources;

mod cluster_tls;
mod clusters;
mod delegate;
mod destination;
mod endpoints;
mod filters;
mod http_policy;
mod http_route;
mod inbound;
mod inbound_chains;
mod listeners;
mod mtls;
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

pub use mtls::{SDS_CERTIFICATE, SDS_CLUSTER, SDS_ROOT_CA, sds_secret_config};
pub use names::{
    BLACK_HOLE_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND,
    VIRTUAL_OUTBOUND, inbound_cluster_name, outbound_cluster_name,
};

/// What the outbound half of a proxy's resources depends on besides the model: two
/// proxies with equal keys get equal listeners (but `virtualInbound`), routes,
/// clusters (but `inbound|…`) and endpoints. The applicable Sidecar, DestinationRule
/// workload selectors and `sourceLabels` follow from the namespace and labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScopeKey {
    kind: ProxyKind,
    namespace: String,
    /// The labels the translator matches: the node's, else its workload's.
    labels: BTreeMap<String, String>,
    /// Whether the proxy has an identity (mTLS in its clusters).
    sds: bool,
}

/// Translates the model for one proxy. Pure: the same inputs give the same output.
/// Equal to [`translate_outbound`] and [`translate_inbound`] merged.
pub fn translate(model: &MeshModel, proxy: &ProxyNode) -> ProxyResources {
    let outbound = translate_outbound(model, proxy);
    let inbound = translate_inbound(model, proxy);
    merge(outbound, inbound)
}

/// The proxy's [`ScopeKey`] in `model`.
pub fn scope_key(model: &MeshModel, proxy: &ProxyNode) -> ScopeKey {
    ScopeKey {
        kind: proxy.kind,
        namespace: proxy.namespace.clone(),
        labels: scope::ProxyScope::inbound(model, proxy).labels.clone(),
        sds: proxy.sds,
    }
}

/// The part of [`translate`] that depends only on the proxy's [`ScopeKey`]:
/// everything but `virtualInbound` and the inbound clusters.
pub fn translate_outbound(model: &MeshModel, proxy: &ProxyNode) -> ProxyResources {
    let scope = scope::ProxyScope::new(model, proxy);
    ProxyResources {
        listeners: sorted_by_name(listeners::outbound_listeners(&scope), |l| &l.name),
        routes: sorted_by_name(routes::outbound_route_configs(&scope), |r| &r.name),
        clusters: sorted_by_name(clusters::outbound_clusters(&scope), |c| &c.name),
        endpoints: sorted_by_name(endpoints::cluster_load_assignments(&scope), |e| {
            &e.cluster_name
        }),
    }
}

/// The part of [`translate`] that depends on the proxy's workload: `virtualInbound`
/// and the inbound clusters.
pub fn translate_inbound(model: &MeshModel, proxy: &ProxyNode) -> ProxyResources {
    let scope = scope::ProxyScope::inbound(model, proxy);
    ProxyResources {
        listeners: vec![inbound::virtual_inbound(&scope)],
        clusters: sorted_by_name(inbound::inbound_clusters(&scope), |c| &c.name),
        ..Default::default()
    }
}

/// Outbound and inbound resources as one list per type, sorted by name; where both
/// have a name, the outbound one wins (a name produced twice would be a NACK of the
/// whole response).
pub fn merge(outbound: ProxyResources, inbound: ProxyResources) -> ProxyResources {
    fn both<T>(mut a: Vec<T>, b: Vec<T>, name: impl Fn(&T) -> &str) -> Vec<T> {
        if b.is_empty() {
            return a;
        }
        a.extend(b);
        sorted_by_name(a, name)
    }
    ProxyResources {
        listeners: both(outbound.listeners, inbound.listeners, |l| &l.name),
        routes: both(outbound.routes, inbound.routes, |r| &r.name),
        clusters: both(outbound.clusters, inbound.clusters, |c| &c.name),
        endpoints: both(outbound.endpoints, inbound.endpoints, |e| &e.cluster_name),
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

/// The ClusterLoadAssignments of [`translate`] for the services `hostnames` only, for
/// a push that changed only their endpoints. `None` when any of them is not served
/// over EDS (a DNS cluster carries its endpoints in the cluster itself): then more
/// than EDS changed.
pub fn translate_endpoints_of(
    model: &MeshModel,
    proxy: &ProxyNode,
    hostnames: &BTreeSet<String>,
) -> Option<Vec<ClusterLoadAssignment>> {
    let scope = scope::ProxyScope::for_services(model, proxy, hostnames);
    if scope
        .services()
        .iter()
        .any(|s| !endpoints::served_over_eds(s))
    {
        return None;
    }
    Some(sorted_by_name(
        endpoints::cluster_load_assignments(&scope),
        |e| &e.cluster_name,
    ))
}

/// The WorkloadEntry or Pod the proxy runs as, if the model has it.
pub fn proxy_workload(model: &MeshModel, proxy: &ProxyNode) -> Option<ObjectRef> {
    scope::find_workload_ref(model, proxy)
}

/// Whether any of the `changed` workloads may be the proxy's own, now or before
/// (`previous` is the one it ran as): then its inbound side and scope must be
/// translated again. Looks only at the changed workloads, not at every workload.
pub fn workload_touched(
    model: &MeshModel,
    proxy: &ProxyNode,
    previous: Option<&ObjectRef>,
    changed: &BTreeSet<ObjectRef>,
) -> bool {
    changed.iter().any(|r| {
        Some(r) == previous
            || (r.namespace == proxy.namespace
                && (r.name == proxy.workload_name
                    || model
                        .workloads
                        .get(r)
                        .is_some_and(|w| proxy.ips.contains(&w.address))))
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
