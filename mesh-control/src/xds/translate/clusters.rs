//! Outbound clusters: one per (service, port) and one per (service, port, subset),
//! plus Istio's PassthroughCluster and BlackHoleCluster.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::BindConfig;
use mesh_api::model::{Protocol, Resolution, Service, ServiceOrigin};
use mesh_api::networking::{DestinationRule, ServiceEntryResolution};
use mesh_api::object::MeshObject;

use super::cluster_tls::{UpstreamTarget, apply_upstream_tls, service_identities};
use super::endpoints::{load_assignment, single_endpoint};
use super::names::{BLACK_HOLE_CLUSTER, PASSTHROUGH_CLUSTER, outbound_cluster_name};
use super::proto::{ads_config_source, seconds};
use super::scope::ProxyScope;
use super::traffic_policy::{ClusterPolicy, UpstreamHttp};

/// How a service's cluster finds its endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClusterKind {
    /// Served by the control plane over EDS (Kubernetes services, STATIC entries).
    Eds,
    /// Resolved by the proxy: STRICT_DNS (DNS) or LOGICAL_DNS (DNS_ROUND_ROBIN).
    StrictDns,
    LogicalDns,
    /// The address the client dialled (resolution NONE).
    OriginalDst,
}

pub(crate) fn cluster_kind(service: &Service) -> ClusterKind {
    match service.resolution {
        Resolution::Static => ClusterKind::Eds,
        Resolution::Passthrough => ClusterKind::OriginalDst,
        Resolution::Dns => ClusterKind::StrictDns,
    }
}

fn cluster_kind_of(scope: &ProxyScope<'_>, service: &Service) -> ClusterKind {
    let kind = cluster_kind(service);
    if kind != ClusterKind::StrictDns {
        return kind;
    }
    let round_robin = match &service.origin {
        ServiceOrigin::ServiceEntry(r) => matches!(
            scope.model.object(r),
            Some(MeshObject::ServiceEntry(se))
                if se.spec.resolution == Some(ServiceEntryResolution::DnsRoundRobin)
        ),
        ServiceOrigin::Kubernetes => false,
    };
    if round_robin {
        ClusterKind::LogicalDns
    } else {
        kind
    }
}

/// One cluster of a service port: the whole service or one subset.
#[derive(Debug, Clone)]
pub(crate) struct SubsetCluster {
    pub(crate) name: String,
    /// The subset's name, empty for the whole service.
    pub(crate) subset: String,
    /// Labels an endpoint must carry to be in the cluster.
    pub(crate) labels: BTreeMap<String, String>,
}

/// The clusters of `service` on `port`: the service's own (no labels) first, then
/// one per subset of the DestinationRule.
pub(crate) fn subset_clusters(
    service: &Service,
    port: u16,
    rule: Option<&DestinationRule>,
) -> Vec<SubsetCluster> {
    let mut out = vec![SubsetCluster {
        name: outbound_cluster_name(port, "", &service.hostname),
        subset: String::new(),
        labels: BTreeMap::new(),
    }];
    for subset in rule.map(|r| r.spec.subsets.as_slice()).unwrap_or_default() {
        let Some(name) = subset.name.as_deref().filter(|n| !n.is_empty()) else {
            continue;
        };
        out.push(SubsetCluster {
            name: outbound_cluster_name(port, name, &service.hostname),
            subset: name.to_string(),
            labels: subset.labels.clone(),
        });
    }
    out
}

/// Every outbound cluster of the proxy.
pub(crate) fn outbound_clusters(scope: &ProxyScope<'_>) -> Vec<Cluster> {
    let mut out = vec![passthrough_cluster(), black_hole_cluster()];
    for service in scope.services() {
        // A wildcard host has no name to resolve and no endpoints of its own.
        if service.hostname.contains('*') && cluster_kind(service) != ClusterKind::OriginalDst {
            continue;
        }
        let rule = scope.destination_rule(service).map(|(_, dr)| dr);
        let kind = cluster_kind_of(scope, service);
        let identities = service_identities(scope.model, service);
        let namespace_mode = scope.model.namespace_mtls_mode(&service.namespace);
        for port in &service.ports {
            if !scope.egress_allows(service, port.port) {
                continue;
            }
            for sc in subset_clusters(service, port.port, rule) {
                let mut c = base_cluster(&sc.name, kind, service, port.port, &sc.labels);
                let policy = ClusterPolicy::new(rule, &sc.subset, port.port);
                let http = upstream_http(port.protocol);
                policy.apply(&mut c, http);
                let target = UpstreamTarget {
                    service,
                    identities: &identities,
                    namespace_mode,
                    port: port.port,
                    subset: &sc.subset,
                    http2: policy.upstream_http2(http),
                    sds: scope.proxy.sds,
                };
                apply_upstream_tls(&mut c, policy.tls, &target);
                out.push(c);
            }
        }
    }
    out
}

fn upstream_http(protocol: Protocol) -> Option<UpstreamHttp> {
    match protocol {
        Protocol::Http => Some(UpstreamHttp::Http1),
        Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb => Some(UpstreamHttp::Http2),
        _ => None,
    }
}

fn base_cluster(
    name: &str,
    kind: ClusterKind,
    service: &Service,
    port: u16,
    subset_labels: &BTreeMap<String, String>,
) -> Cluster {
    let mut c = Cluster {
        name: name.to_string(),
        ..Default::default()
    };
    let discovery = match kind {
        ClusterKind::Eds => {
            c.eds_cluster_config = Some(cluster::EdsClusterConfig {
                eds_config: Some(ads_config_source()),
                service_name: name.to_string(),
            });
            cluster::DiscoveryType::Eds
        }
        ClusterKind::StrictDns | ClusterKind::LogicalDns => {
            let mut assignment = load_assignment(name, service, port, subset_labels, false);
            if assignment.endpoints.is_empty() && service.endpoints.is_empty() {
                // A DNS entry without endpoints resolves its own host.
                let target = service
                    .ports
                    .iter()
                    .find(|p| p.port == port)
                    .and_then(|p| match p.target_port {
                        mesh_api::model::TargetPort::Number(n) => Some(n),
                        mesh_api::model::TargetPort::Name(_) => None,
                    })
                    .unwrap_or(port);
                assignment = single_endpoint(name, &service.hostname, target);
            }
            // LOGICAL_DNS takes exactly one endpoint; with more, resolve them all.
            let single = assignment.endpoints.len() == 1
                && assignment
                    .endpoints
                    .iter()
                    .all(|l| l.lb_endpoints.len() == 1);
            c.load_assignment = Some(assignment);
            c.dns_lookup_family = cluster::DnsLookupFamily::V4Only as i32;
            if kind == ClusterKind::LogicalDns && single {
                cluster::DiscoveryType::LogicalDns
            } else {
                cluster::DiscoveryType::StrictDns
            }
        }
        ClusterKind::OriginalDst => cluster::DiscoveryType::OriginalDst,
    };
    c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(discovery as i32));
    if kind == ClusterKind::OriginalDst {
        c.lb_policy = cluster::LbPolicy::ClusterProvided as i32;
    }
    c
}

/// Forwards to the original destination: ALLOW_ANY traffic to unknown hosts.
pub(crate) fn passthrough_cluster() -> Cluster {
    original_dst_cluster(PASSTHROUGH_CLUSTER, None)
}

/// An ORIGINAL_DST cluster, optionally binding its connections to `bind_ip`.
pub(crate) fn original_dst_cluster(name: &str, bind_ip: Option<&str>) -> Cluster {
    let mut c = Cluster {
        name: name.to_string(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::OriginalDst as i32,
        )),
        lb_policy: cluster::LbPolicy::ClusterProvided as i32,
        ..Default::default()
    };
    ClusterPolicy::default().apply(&mut c, None);
    if let Some(ip) = bind_ip {
        c.upstream_bind_config = Some(BindConfig {
            source_address: Some(super::proto::core_socket_address(ip, 0)),
            ..Default::default()
        });
    }
    c
}

/// A STATIC cluster without endpoints: traffic routed to it fails (REGISTRY_ONLY).
pub(crate) fn black_hole_cluster() -> Cluster {
    Cluster {
        name: BLACK_HOLE_CLUSTER.to_string(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        connect_timeout: Some(seconds(10)),
        ..Default::default()
    }
}
