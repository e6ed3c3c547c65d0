//! `ClusterLoadAssignment` protos → [`Endpoint`]s: the hosts of an EDS cluster, or of
//! a STATIC one's `load_assignment`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use serde::Serialize;

use super::address::endpoint_host_and_port;
use super::error::{ConfigError, FieldError};
use super::transport_socket::{TRANSPORT_SOCKET_MATCH, string_labels};

/// One upstream host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub address: SocketAddr,
    pub weight: u32,
    /// EDS UNKNOWN, HEALTHY (and DEGRADED, which Envoy uses when nothing better is left).
    pub healthy: bool,
    /// Its `envoy.transport_socket_match` metadata: which of the cluster's
    /// `transport_socket_matches` its connections use.
    pub transport_socket_labels: BTreeMap<String, String>,
}

/// The endpoints of a ClusterLoadAssignment, every locality together.
pub fn build_endpoints(cla: &ClusterLoadAssignment) -> Result<Vec<Endpoint>, ConfigError> {
    lb_endpoints(cla).map_err(|e| e.of("cla", &cla.cluster_name))
}

/// The endpoints of an assignment (EDS, or a STATIC cluster's `load_assignment`).
pub(super) fn lb_endpoints(cla: &ClusterLoadAssignment) -> Result<Vec<Endpoint>, FieldError> {
    let mut out = Vec::new();
    for locality in &cla.endpoints {
        for lb in &locality.lb_endpoints {
            let (host, port) = endpoint_host_and_port(lb)?;
            let ip: std::net::IpAddr = host
                .parse()
                .map_err(|_| format!("endpoint {host:?} is not an IP address"))?;
            out.push(Endpoint {
                address: SocketAddr::new(ip, port),
                weight: lb.load_balancing_weight.as_ref().map_or(1, |w| w.value),
                // UNKNOWN, HEALTHY and DEGRADED take traffic; UNHEALTHY, DRAINING, TIMEOUT
                // only in healthy panic.
                healthy: matches!(lb.health_status, 0 | 1 | 5),
                transport_socket_labels: string_labels(
                    lb.metadata
                        .as_ref()
                        .and_then(|m| m.filter_metadata.get(TRANSPORT_SOCKET_MATCH)),
                )
                .map_err(|e| {
                    e.at(format!(
                        "endpoint {ip}:{port}: metadata {TRANSPORT_SOCKET_MATCH}"
                    ))
                })?,
            });
        }
    }
    Ok(out)
}
