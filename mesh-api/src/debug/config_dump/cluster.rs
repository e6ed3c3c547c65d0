//! Cluster and ClusterLoadAssignment views: discovery type, load balancing, circuit
//! breakers, outlier detection, and endpoints with their weights.

use serde::{Deserialize, Serialize};

/// A Cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Istio's form: `outbound|<port>|<subset>|<fqdn>`, `inbound|<port>||`.
    pub name: String,
    /// The resource's version (its hash).
    pub version: String,
    /// Envoy's enum names, kept as text so that a name this view does not know
    /// (`UNKNOWN(n)`, a custom cluster type) still shows: `EDS`, `STATIC`,
    /// `STRICT_DNS`, `LOGICAL_DNS`, `ORIGINAL_DST`.
    #[serde(rename = "type")]
    pub discovery_type: String,
    /// `ROUND_ROBIN`, `LEAST_REQUEST`, `RING_HASH`, `RANDOM`, `MAGLEV`, …
    pub lb_policy: String,
    /// `"1.5s"`.
    pub connect_timeout: Option<String>,
    pub circuit_breakers: Vec<CircuitBreakerThresholdsView>,
    pub outlier_detection: Option<OutlierDetectionView>,
    /// The whole Envoy message, in Rust Debug form.
    pub proto: String,
}

/// One `circuit_breakers.thresholds` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CircuitBreakerThresholdsView {
    /// Envoy's `RoutingPriority` value: 0 default, 1 high.
    pub priority: i32,
    pub max_connections: Option<u32>,
    pub max_pending_requests: Option<u32>,
    pub max_requests: Option<u32>,
    pub max_retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlierDetectionView {
    pub consecutive_5xx: Option<u32>,
    pub interval: Option<String>,
    pub base_ejection_time: Option<String>,
    pub max_ejection_percent: Option<u32>,
}

/// A ClusterLoadAssignment: one cluster's endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointsView {
    pub cluster_name: String,
    /// The resource's version (its hash).
    pub version: String,
    /// Every endpoint of every locality.
    pub endpoints: Vec<LbEndpointView>,
    /// The whole Envoy message, in Rust Debug form.
    pub proto: String,
}

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LbEndpointView {
    /// `10.0.0.1:8080`.
    pub address: Option<String>,
    pub weight: Option<u32>,
    /// `region/zone/sub_zone`, the parts that are set.
    pub locality: Option<String>,
    pub priority: u32,
    /// Envoy's `HealthStatus` name (`UNKNOWN`, `HEALTHY`, …).
    pub health_status: String,
}
