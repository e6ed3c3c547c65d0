//! ClusterLoadAssignments: a service port's endpoints (or a subset's), grouped by
//! locality. Served over EDS for EDS clusters, inlined for DNS clusters.

use std::collections::BTreeMap;
use std::net::IpAddr;

use envoy_types::pb::envoy::config::core::v3::Locality;
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint as EnvoyEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use mesh_api::model::{Endpoint, Service};

use super::clusters::{ClusterKind, cluster_kind, subset_clusters};
use super::mtls::endpoint_tls_metadata;
use super::proto::{socket_address, u32_value};
use super::scope::ProxyScope;

/// Whether the service's endpoints reach proxies over EDS only: an EDS cluster
/// (wildcard hosts get none, see `outbound_clusters`).
pub(crate) fn served_over_eds(service: &Service) -> bool {
    cluster_kind(service) == ClusterKind::Eds && !service.hostname.contains('*')
}

/// The EDS resources of every EDS cluster the proxy receives.
pub(crate) fn cluster_load_assignments(scope: &ProxyScope<'_>) -> Vec<ClusterLoadAssignment> {
    let mut out = Vec::new();
    for service in scope.services() {
        if !served_over_eds(service) {
            continue;
        }
        let rule = scope.destination_rule(service).map(|(_, dr)| dr);
        for port in &service.ports {
            if !scope.egress_allows(service, port.port) {
                continue;
            }
            for sc in subset_clusters(service, port.port, rule) {
                out.push(load_assignment(
                    &sc.name, service, port.port, &sc.labels, true,
                ));
            }
        }
    }
    out
}

/// The endpoints of `service` on `port` carrying every label of `subset_labels`, by
/// locality. `ip_only` drops endpoints that are not IP addresses (EDS cannot resolve
/// names; DNS clusters can).
pub(crate) fn load_assignment(
    cluster_name: &str,
    service: &Service,
    port: u16,
    subset_labels: &BTreeMap<String, String>,
    ip_only: bool,
) -> ClusterLoadAssignment {
    let mut by_locality: BTreeMap<&str, Vec<(&Endpoint, u16)>> = BTreeMap::new();
    for e in &service.endpoints {
        let Some(target) = e.ports.get(&port).copied() else {
            continue;
        };
        if !subset_labels
            .iter()
            .all(|(k, v)| e.labels.get(k) == Some(v))
        {
            continue;
        }
        if e.address.starts_with("unix://") || (ip_only && e.address.parse::<IpAddr>().is_err()) {
            continue;
        }
        by_locality
            .entry(e.locality.as_deref().unwrap_or(""))
            .or_default()
            .push((e, target));
    }
    let endpoints = by_locality
        .into_iter()
        .map(|(locality, mut eps)| {
            eps.sort_by(|a, b| (&a.0.address, a.1).cmp(&(&b.0.address, b.1)));
            eps.dedup_by(|a, b| a.0.address == b.0.address && a.1 == b.1);
            LocalityLbEndpoints {
                locality: parse_locality(locality),
                lb_endpoints: eps
                    .into_iter()
                    .map(|(e, target)| LbEndpoint {
                        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(
                            EnvoyEndpoint {
                                address: Some(socket_address(&e.address, target)),
                                ..Default::default()
                            },
                        )),
                        load_balancing_weight: Some(u32_value(
                            e.weight.filter(|w| *w > 0).unwrap_or(1),
                        )),
                        // Which of the cluster's transport_socket_matches applies.
                        metadata: endpoint_tls_metadata(&e.labels),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: cluster_name.to_string(),
        endpoints,
        ..Default::default()
    }
}

/// One endpoint, `address:port`: the local app of an inbound cluster, or the host a
/// DNS cluster without endpoints resolves.
pub(crate) fn single_endpoint(
    cluster_name: &str,
    address: &str,
    port: u16,
) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: cluster_name.to_string(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![LbEndpoint {
                host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(EnvoyEndpoint {
                    address: Some(socket_address(address, port)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// `region/zone/subzone`, as Istio writes localities.
fn parse_locality(locality: &str) -> Option<Locality> {
    if locality.is_empty() {
        return None;
    }
    let mut parts = locality.splitn(3, '/');
    Some(Locality {
        region: parts.next().unwrap_or_default().to_string(),
        zone: parts.next().unwrap_or_default().to_string(),
        sub_zone: parts.next().unwrap_or_default().to_string(),
    })
}
