//! Cluster and ClusterLoadAssignment views: discovery type, load balancing,
//! circuit breakers, outlier detection, and endpoints with their weights.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, OutlierDetection, cluster};
use envoy_types::pb::envoy::config::core::v3::HealthStatus;
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, lb_endpoint};
use mesh_api::debug::{
    CircuitBreakerThresholdsView, ClusterView, EndpointsView, LbEndpointView, OutlierDetectionView,
};

use super::{address_text, duration_text};

pub(crate) fn cluster_view(c: &Cluster, version: String) -> ClusterView {
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
        .map(|t| CircuitBreakerThresholdsView {
            priority: t.priority,
            max_connections: t.max_connections.map(|v| v.value),
            max_pending_requests: t.max_pending_requests.map(|v| v.value),
            max_requests: t.max_requests.map(|v| v.value),
            max_retries: t.max_retries.map(|v| v.value),
        })
        .collect();
    ClusterView {
        name: c.name.clone(),
        version,
        discovery_type,
        lb_policy,
        connect_timeout: c.connect_timeout.as_ref().map(duration_text),
        circuit_breakers,
        outlier_detection: c.outlier_detection.as_ref().map(outlier_detection),
        proto: format!("{c:?}"),
    }
}

fn outlier_detection(o: &OutlierDetection) -> OutlierDetectionView {
    OutlierDetectionView {
        consecutive_5xx: o.consecutive_5xx.map(|v| v.value),
        interval: o.interval.as_ref().map(duration_text),
        base_ejection_time: o.base_ejection_time.as_ref().map(duration_text),
        max_ejection_percent: o.max_ejection_percent.map(|v| v.value),
    }
}

pub(crate) fn endpoints_view(cla: &ClusterLoadAssignment, version: String) -> EndpointsView {
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
            locality.lb_endpoints.iter().map(move |e| LbEndpointView {
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
        version,
        endpoints,
        proto: format!("{cla:?}"),
    }
}
