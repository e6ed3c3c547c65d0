//! Load balancing settings of a DestinationRule: the algorithm, consistent hashing,
//! locality and zone awareness, and slow start.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::constraints::{at_most_one, checked_serde, required};
use crate::duration::Duration;

/// How requests are spread over a service's endpoints: a `simple` algorithm or
/// `consistentHash` (at most one), plus locality settings.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "LoadBalancerSettings",
    extend("oneOf" = [
        { "not": { "anyOf": [{ "required": ["simple"] }, { "required": ["consistentHash"] }] } },
        { "required": ["simple"] },
        { "required": ["consistentHash"] }
    ])
)]
pub struct LoadBalancerSettings {
    /// A standard algorithm; default LEAST_REQUEST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple: Option<SimpleLb>,
    /// Hash-based affinity on a header, cookie, source IP or query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent_hash: Option<ConsistentHashLb>,
    /// Locality-aware load balancing; overrides the mesh-wide setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality_lb_setting: Option<LocalityLoadBalancerSetting>,
    /// Deprecated slow-start window for new endpoints; use `warmup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup_duration_secs: Option<Duration>,
    /// Slow start: new endpoints get progressively more traffic over a window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupConfiguration>,
    /// Zone-aware load balancing (prefer endpoints in the caller's zone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_aware_lb_setting: Option<ZoneAwareLbSetting>,
}

checked_serde!(LoadBalancerSettings);

/// Standard load balancing algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SimpleLb {
    /// Not set: Istio's default, LEAST_REQUEST.
    Unspecified,
    /// Deprecated alias of LEAST_REQUEST.
    LeastConn,
    /// A random healthy endpoint.
    Random,
    /// Forward to the address the caller connected to, without balancing.
    Passthrough,
    /// Round robin over healthy endpoints.
    RoundRobin,
    /// The least loaded of two random endpoints (power of two choices).
    LeastRequest,
}

/// Consistent hashing: one hash key (header, cookie, source IP or query parameter) and one
/// ring (`ringHash` or `maglev`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "ConsistentHashLb",
    extend("allOf" = [
        { "oneOf": [
            { "not": { "anyOf": [
                { "required": ["httpHeaderName"] },
                { "required": ["httpCookie"] },
                { "required": ["useSourceIp"] },
                { "required": ["httpQueryParameterName"] }
            ] } },
            { "required": ["httpHeaderName"] },
            { "required": ["httpCookie"] },
            { "required": ["useSourceIp"] },
            { "required": ["httpQueryParameterName"] }
        ] },
        { "oneOf": [
            { "not": { "anyOf": [{ "required": ["ringHash"] }, { "required": ["maglev"] }] } },
            { "required": ["ringHash"] },
            { "required": ["maglev"] }
        ] }
    ])
)]
pub struct ConsistentHashLb {
    /// Hash on this request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_name: Option<String>,
    /// Hash on this cookie, generated if absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_cookie: Option<HttpCookie>,
    /// Hash on the caller's IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_source_ip: Option<bool>,
    /// Hash on this query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_query_parameter_name: Option<String>,
    /// Use a ring hash (Ketama); the default ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_hash: Option<RingHash>,
    /// Use Maglev hashing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev: Option<MagLev>,
    /// Deprecated; use `ringHash.minimumRingSize`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ring_size: Option<u64>,
}

checked_serde!(ConsistentHashLb);

/// The cookie consistent hashing uses; the proxy sets it when the request lacks it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCookie {
    /// Cookie name. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub name: Option<String>,
    /// Path of the generated cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Lifetime of the generated cookie; `0s` makes a session cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
    /// Extra attributes of the generated cookie (`SameSite`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<CookieAttribute>,
}

/// An attribute of a generated cookie.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CookieAttribute {
    /// Attribute name. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub name: Option<String>,
    /// Attribute value, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Ring hash settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RingHash {
    /// Minimum number of virtual nodes on the ring; default 1024.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_ring_size: Option<u64>,
}

/// Maglev hashing settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MagLev {
    /// Lookup table size, a prime; default 65537.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table_size: Option<u64>,
}

/// Locality-aware load balancing: weighted distribution between localities, or
/// failover order (only one of `distribute`, `failover`, `failoverPriority`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalityLoadBalancerSetting {
    /// Traffic shares from each origin locality to destination localities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribute: Vec<Distribute>,
    /// Region to fail over to when a region's endpoints are unhealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<Failover>,
    /// Labels ordering endpoints by priority (endpoints sharing more labels with the
    /// caller first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Turns locality load balancing on or off; unset keeps the mesh-wide setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// How traffic from one locality is spread over destination localities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Distribute {
    /// Origin locality, `region/zone/subzone`, `*` allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Destination localities and their weights (summing to 100).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub to: BTreeMap<String, u32>,
}

/// Where traffic goes when the endpoints of a region are unhealthy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Failover {
    /// Origin region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Region to fail over to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Slow start for new endpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WarmupConfiguration {
    /// Length of the warm-up window. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub duration: Option<Duration>,
    /// Share of traffic (0-100) a new endpoint starts with; default 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_percent: Option<f64>,
    /// How fast traffic ramps up (1.0 linear, higher faster); default 1.0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggression: Option<f64>,
}

/// Zone-aware load balancing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ZoneAwareLbSetting {
    /// Turns zone-aware load balancing on or off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Region to fail over to when a region's endpoints are unhealthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover: Vec<Failover>,
    /// Labels ordering endpoints by priority.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failover_priority: Vec<String>,
    /// Minimum number of endpoints in the caller's zone for zone awareness to apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_cluster_size: Option<u64>,
}

impl SimpleLb {
    /// The algorithm Istio uses when none is set.
    pub const ISTIO_DEFAULT: SimpleLb = SimpleLb::LeastRequest;
}

impl LoadBalancerSettings {
    /// The simple algorithm in force: `None` with consistent hashing, else `simple` with
    /// UNSPECIFIED and the deprecated LEAST_CONN read as LEAST_REQUEST.
    pub fn simple_or_default(&self) -> Option<SimpleLb> {
        if self.consistent_hash.is_some() {
            return None;
        }
        Some(match self.simple {
            None | Some(SimpleLb::Unspecified) | Some(SimpleLb::LeastConn) => {
                SimpleLb::ISTIO_DEFAULT
            }
            Some(other) => other,
        })
    }

    fn check(&self) -> Result<(), String> {
        at_most_one(&[
            ("simple", self.simple.is_some()),
            ("consistentHash", self.consistent_hash.is_some()),
        ])
    }
}

impl ConsistentHashLb {
    fn check(&self) -> Result<(), String> {
        at_most_one(&[
            ("httpHeaderName", self.http_header_name.is_some()),
            ("httpCookie", self.http_cookie.is_some()),
            ("useSourceIp", self.use_source_ip.is_some()),
            (
                "httpQueryParameterName",
                self.http_query_parameter_name.is_some(),
            ),
        ])?;
        at_most_one(&[
            ("ringHash", self.ring_hash.is_some()),
            ("maglev", self.maglev.is_some()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn default_algorithm_is_least_request() {
        assert_eq!(
            LoadBalancerSettings::default().simple_or_default(),
            Some(SimpleLb::LeastRequest)
        );
        let lb: LoadBalancerSettings =
            serde_json::from_value(json!({"simple": "ROUND_ROBIN"})).unwrap();
        assert_eq!(lb.simple_or_default(), Some(SimpleLb::RoundRobin));
        let lb: LoadBalancerSettings =
            serde_json::from_value(json!({"consistentHash": {"useSourceIp": true}})).unwrap();
        assert_eq!(lb.simple_or_default(), None);
    }

    #[test]
    fn one_hash_key_and_one_ring() {
        let err = serde_json::from_value::<LoadBalancerSettings>(
            json!({"simple": "RANDOM", "consistentHash": {"useSourceIp": true}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("found `simple` and `consistentHash`"),
            "{err}"
        );
        let err = serde_json::from_value::<ConsistentHashLb>(
            json!({"httpHeaderName": "x-user", "useSourceIp": true}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("found `httpHeaderName` and `useSourceIp`"),
            "{err}"
        );
        let err = serde_json::from_value::<ConsistentHashLb>(json!({"ringHash": {}, "maglev": {}}))
            .unwrap_err();
        assert!(
            err.to_string().contains("found `ringHash` and `maglev`"),
            "{err}"
        );
    }
}
