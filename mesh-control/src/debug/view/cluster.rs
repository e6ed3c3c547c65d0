//! Cluster and ClusterLoadAssignment views: discovery type, load balancing,
//! circuit breakers, outlier detection, and endpoints with their weights.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::HealthStatus;
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint};
use serde::Serialize;

use super::{address_text, duration_text};

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
                    health_status: HealthStatus::try_from(e.health_status).map_or_else(
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
