//! A route destination (`host`, `subset`, `port`) as the cluster it names.

use envoy_types::pb::envoy::config::route::v3::route_action::HashPolicy;
use mesh_api::networking::Destination;

use super::names::outbound_cluster_name;
use super::scope::ProxyScope;
use super::traffic_policy::ClusterPolicy;

/// The cluster a destination names, and what consistent hashing it needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DestinationCluster {
    pub(crate) name: String,
    pub(crate) hash_policy: Vec<HashPolicy>,
}

/// Resolves `dest`, written in config of `namespace`, for traffic arriving on
/// `listener_port`. The port is the destination's, else the service's only port, else
/// the listener's (Istio's rule). An unknown host still gives a cluster name, as in
/// Istio: requests to it fail with 503 (no cluster) rather than the whole route
/// config being rejected.
pub(crate) fn destination_cluster(
    scope: &ProxyScope<'_>,
    dest: &Destination,
    namespace: &str,
    listener_port: u16,
) -> Option<DestinationCluster> {
    let host = dest.host.as_deref()?;
    let service = scope.destination_service(host, namespace);
    let hostname = match service {
        Some(s) if !s.hostname.contains('*') => s.hostname.clone(),
        _ => scope.model.resolve_host(host, namespace),
    };
    let port = dest
        .port
        .as_ref()
        .and_then(|p| p.number)
        .and_then(|n| u16::try_from(n).ok())
        .or_else(|| match service.map(|s| s.ports.as_slice()) {
            Some([only]) => Some(only.port),
            _ => None,
        })
        .unwrap_or(listener_port);
    let subset = dest.subset.as_deref().unwrap_or_default();
    let hash_policy = service
        .map(|s| {
            let rule = scope.destination_rule(s).map(|(_, dr)| dr);
            ClusterPolicy::new(rule, subset, port).hash_policy()
        })
        .unwrap_or_default();
    Some(DestinationCluster {
        name: outbound_cluster_name(port, subset, &hostname),
        hash_policy,
    })
}
