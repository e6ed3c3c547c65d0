//! VirtualService `tcp` and `tls` rules: which cluster(s) a TCP proxy sends a
//! service's connections to.

use mesh_api::model::{Service, hostname};
use mesh_api::networking::RouteDestination;

use super::destination::destination_cluster;
use super::filters::TcpTarget;
use super::names::outbound_cluster_name;
use super::scope::ProxyScope;

/// The target of connections to `service` on `port`: the first `tcp` rule whose
/// match applies to this proxy and port, else the service's own cluster.
pub(crate) fn tcp_target(scope: &ProxyScope<'_>, service: &Service, port: u16) -> TcpTarget {
    let default = TcpTarget::Cluster(outbound_cluster_name(port, "", &service.hostname));
    let Some((vs_ref, vs)) = scope.virtual_service(service) else {
        return default;
    };
    let rule = vs.spec.tcp.iter().find(|rule| {
        rule.r#match.is_empty()
            || rule.r#match.iter().any(|m| {
                m.port.is_none_or(|p| p == u32::from(port))
                    && mesh_gateway(&m.gateways)
                    && scope.is_source(&m.source_labels, m.source_namespace.as_deref())
            })
    });
    match rule {
        Some(rule) => weighted(
            scope,
            &rule.route,
            &rule.route_weights(),
            &vs_ref.namespace,
            port,
        )
        .unwrap_or(default),
        None => default,
    }
}

/// The target of TLS connections to `service` on `port` with SNI `service.hostname`:
/// the first `tls` rule matching that SNI, else the service's own cluster.
pub(crate) fn tls_target(scope: &ProxyScope<'_>, service: &Service, port: u16) -> TcpTarget {
    let default = TcpTarget::Cluster(outbound_cluster_name(port, "", &service.hostname));
    let Some((vs_ref, vs)) = scope.virtual_service(service) else {
        return default;
    };
    let rule = vs.spec.tls.iter().find(|rule| {
        rule.r#match.iter().any(|m| {
            m.port.is_none_or(|p| p == u32::from(port))
                && mesh_gateway(&m.gateways)
                && scope.is_source(&m.source_labels, m.source_namespace.as_deref())
                && m.sni_hosts.iter().any(|sni| {
                    let sni = scope.model.resolve_host(sni, &vs_ref.namespace);
                    hostname::host_matches(&sni, &service.hostname)
                })
        })
    });
    match rule {
        Some(rule) => weighted(
            scope,
            &rule.route,
            &rule.route_weights(),
            &vs_ref.namespace,
            port,
        )
        .unwrap_or(default),
        None => default,
    }
}

/// Match-level `gateways` override the VirtualService's: a match naming gateways
/// but not `mesh` is not for sidecars.
pub(crate) fn mesh_gateway(gateways: &[String]) -> bool {
    gateways.is_empty() || gateways.iter().any(|g| g == "mesh")
}

fn weighted(
    scope: &ProxyScope<'_>,
    route: &[RouteDestination],
    weights: &[u32],
    namespace: &str,
    port: u16,
) -> Option<TcpTarget> {
    let mut clusters: Vec<(String, u32)> = route
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0)
        .filter_map(|(r, w)| {
            let dest = r.destination.as_ref()?;
            Some((destination_cluster(scope, dest, namespace, port)?.name, *w))
        })
        .collect();
    match clusters.len() {
        0 => None,
        1 => Some(TcpTarget::Cluster(clusters.remove(0).0)),
        _ => Some(TcpTarget::Weighted(clusters)),
    }
}
