//! `Cluster` and `ClusterLoadAssignment` protos → [`ClusterConfig`] and endpoints.

use std::net::IpAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::cluster as envoy_cluster;
use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType, cluster::LbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::socket_address;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options::UpstreamProtocolOptions,
    http_protocol_options::explicit_http_config::ProtocolConfig,
};
use prost::Message;
use serde::Serialize;

use super::address::endpoint_host_and_port;
use super::endpoints::{Endpoint, lb_endpoints};
use super::error::{ConfigError, FieldError};
use super::transport_socket::{
    TransportSocket, TransportSocketMatch, build_transport_socket, build_transport_socket_matches,
};
use crate::balance::{LbConfig, LbPolicy as BalancePolicy};
use crate::outlier::OutlierDetectionConfig;

const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// A cluster as this proxy applies it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterConfig {
    pub name: String,
    pub kind: ClusterKind,
    #[serde(with = "millis")]
    pub connect_timeout: Duration,
    pub http2: bool,
    /// `upstream_bind_config.source_address`: the source IP of upstream connections
    /// (Istio's 127.0.0.6 for inbound, which its redirect rules exempt).
    pub source_address: Option<IpAddr>,
    /// Envoy's lb_policy name.
    pub lb_policy: String,
    /// The balancer `lb_policy` and `common_lb_config` describe.
    #[serde(skip)]
    pub lb_config: LbConfig,
    /// Circuit breaker thresholds (Istio's connection pool settings).
    pub limits: ConnectionLimits,
    pub pool: PoolOptions,
    /// Consecutive-error outlier detection (Istio's `outlierDetection`).
    #[serde(skip)]
    pub outlier: Option<OutlierDetectionConfig>,
    /// How connections to endpoints that match no `transport_socket_matches` entry
    /// travel.
    pub transport_socket: TransportSocket,
    /// Per-endpoint transport sockets, by the endpoints' `envoy.transport_socket_match`
    /// metadata (Istio: mTLS to endpoints labelled `tlsMode: istio`).
    pub transport_socket_matches: Vec<TransportSocketMatch>,
}

/// Envoy's circuit breaker thresholds: beyond them a request gets 503 `UO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionLimits {
    /// HTTP/1.1: requests on the wire at once (one per connection).
    pub max_connections: u32,
    /// Requests waiting for a connection.
    pub max_pending_requests: u32,
    /// Requests in flight.
    pub max_requests: u32,
    /// Retries in flight.
    pub max_retries: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
        }
    }
}

/// Keep-alive settings of the connection pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PoolOptions {
    /// `idle_timeout` (Envoy: 1 h when unset).
    #[serde(skip)]
    pub idle_timeout: Option<Duration>,
    /// `max_requests_per_connection` (Istio's `maxRequestsPerConnection`): a
    /// connection leaves the pool after that many requests; unset, no limit.
    pub max_requests_per_connection: Option<u32>,
}

impl PoolOptions {
    /// The limit when each connection's requests must be counted: above 1 (1 is
    /// simply no reuse).
    pub fn counted_requests_per_connection(&self) -> Option<u32> {
        self.max_requests_per_connection.filter(|n| *n > 1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ClusterKind {
    /// Endpoints from EDS, under this ClusterLoadAssignment name.
    Eds { service_name: String },
    /// Endpoints inline.
    Static { endpoints: Vec<Endpoint> },
    /// ORIGINAL_DST: the one endpoint is the downstream connection's original
    /// destination (the local address where no listener restored it).
    OriginalDst,
    /// STRICT_DNS / LOGICAL_DNS: hosts resolved every `refresh` (IPv4, as the
    /// translator asks); LOGICAL_DNS uses the first address only.
    Dns {
        targets: Vec<DnsTarget>,
        #[serde(with = "millis")]
        refresh: Duration,
        logical: bool,
    },
}

/// A hostname to resolve, its port and its weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsTarget {
    pub host: String,
    pub port: u16,
    pub weight: u32,
}

/// The hosts of a DNS cluster's `load_assignment`, with Envoy's refresh default (5 s).
fn dns_cluster(c: &Cluster, logical: bool) -> Result<ClusterKind, FieldError> {
    use envoy_cluster::DnsLookupFamily;
    if !matches!(
        DnsLookupFamily::try_from(c.dns_lookup_family),
        Ok(DnsLookupFamily::V4Only | DnsLookupFamily::V4Preferred | DnsLookupFamily::Auto)
    ) {
        return Err("dns_lookup_family: only V4_ONLY, V4_PREFERRED and AUTO are supported".into());
    }
    let mut targets = Vec::new();
    for locality in c.load_assignment.iter().flat_map(|a| &a.endpoints) {
        for lb in &locality.lb_endpoints {
            let (host, port) = endpoint_host_and_port(lb).map_err(|e| e.at("load_assignment"))?;
            targets.push(DnsTarget {
                host: host.to_string(),
                port,
                weight: lb
                    .load_balancing_weight
                    .as_ref()
                    .map_or(1, |w| w.value.max(1)),
            });
        }
    }
    if targets.is_empty() {
        return Err("load_assignment: a DNS cluster needs at least one host".into());
    }
    #[allow(deprecated)] // Still Envoy's field for the built-in DNS cluster types.
    let refresh = c
        .dns_refresh_rate
        .as_ref()
        .map_or(Duration::from_secs(5), crate::route::proto_duration)
        .max(Duration::from_millis(100));
    Ok(ClusterKind::Dns {
        targets,
        refresh,
        logical,
    })
}

mod millis {
    pub(super) fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u128(d.as_millis())
    }
}

/// Converts a cluster; an error names the field this proxy cannot implement.
pub fn build_cluster(c: &Cluster) -> Result<ClusterConfig, ConfigError> {
    cluster(c).map_err(|e| e.of("cluster", &c.name))
}

fn cluster(c: &Cluster) -> Result<ClusterConfig, FieldError> {
    let err = |e: String| FieldError::new(e);
    let discovery = match &c.cluster_discovery_type {
        None => DiscoveryType::Static,
        Some(ClusterDiscoveryType::Type(t)) => {
            DiscoveryType::try_from(*t).map_err(|_| err(format!("type {t} unknown")))?
        }
        Some(ClusterDiscoveryType::ClusterType(t)) => {
            return Err(err(format!("cluster_type {:?} is not supported", t.name)));
        }
    };
    let kind = match discovery {
        DiscoveryType::Eds => ClusterKind::Eds {
            service_name: c
                .eds_cluster_config
                .as_ref()
                .map(|e| e.service_name.clone())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| c.name.clone()),
        },
        DiscoveryType::Static => ClusterKind::Static {
            endpoints: c
                .load_assignment
                .as_ref()
                .map(lb_endpoints)
                .transpose()?
                .unwrap_or_default(),
        },
        DiscoveryType::OriginalDst => ClusterKind::OriginalDst,
        DiscoveryType::StrictDns | DiscoveryType::LogicalDns => {
            dns_cluster(c, discovery == DiscoveryType::LogicalDns)?
        }
    };
    let lb = LbPolicy::try_from(c.lb_policy)
        .map_err(|_| err(format!("lb_policy {} unknown", c.lb_policy)))?;
    if kind == ClusterKind::OriginalDst {
        // Envoy's own checks: the destination is the connection's, nothing to balance.
        if lb != LbPolicy::ClusterProvided {
            return Err(err(format!(
                "lb_policy {}: an ORIGINAL_DST cluster takes only CLUSTER_PROVIDED",
                lb.as_str_name()
            )));
        }
    } else if lb == LbPolicy::ClusterProvided {
        return Err(err(
            "lb_policy CLUSTER_PROVIDED: only for ORIGINAL_DST clusters".into(),
        ));
    }
    let source_address = upstream_source_address(c)?;
    let policy = match (lb, &c.lb_config) {
        (LbPolicy::RoundRobin | LbPolicy::ClusterProvided, None) => BalancePolicy::RoundRobin,
        (LbPolicy::LeastRequest, None) => BalancePolicy::default_least_request(),
        (LbPolicy::Random, None) => BalancePolicy::Random,
        (LbPolicy::RingHash, None) => BalancePolicy::default_ring_hash(),
        (LbPolicy::RingHash, Some(envoy_cluster::LbConfig::RingHashLbConfig(r))) => {
            ring_hash_policy(r)?
        }
        (LbPolicy::Maglev, None) => BalancePolicy::default_maglev(),
        (LbPolicy::Maglev, Some(envoy_cluster::LbConfig::MaglevLbConfig(m))) => {
            let table_size = m.table_size.as_ref().map_or(65537, |v| v.value);
            if !is_prime(table_size) || table_size > 5_000_011 {
                return Err(err(format!(
                    "maglev_lb_config.table_size: {table_size} is not a prime up to 5000011"
                )));
            }
            BalancePolicy::Maglev { table_size }
        }
        (_, Some(_)) => {
            return Err(err(format!(
                "lb_config: this per-policy setting does not go with lb_policy {}",
                lb.as_str_name()
            )));
        }
        (other, None) => {
            return Err(err(format!(
                "lb_policy {}: not supported yet",
                other.as_str_name()
            )));
        }
    };
    let healthy_panic_threshold = c
        .common_lb_config
        .as_ref()
        .and_then(|l| l.healthy_panic_threshold.as_ref())
        .map_or(50.0, |p| p.value);
    let lb_config = LbConfig {
        policy,
        healthy_panic_threshold,
        seed: 0,
    };
    let transport_socket = build_transport_socket(c.transport_socket.as_ref(), false)?;
    let transport_socket_matches = build_transport_socket_matches(&c.transport_socket_matches)?;
    transport_socket.check_servable()?;
    for m in &transport_socket_matches {
        m.socket
            .check_servable()
            .map_err(|e| e.at(format!("transport_socket_matches {:?}", m.name)))?;
    }
    let outlier = c
        .outlier_detection
        .as_ref()
        .map(outlier_detection)
        .transpose()
        .map_err(|e| e.at("outlier_detection"))?;
    let limits = circuit_breaker_limits(c)?;
    let mut pool = PoolOptions::default();
    #[allow(deprecated)]
    let mut http2 = c.http2_protocol_options.is_some();
    for (name, any) in &c.typed_extension_protocol_options {
        if name != HTTP_PROTOCOL_OPTIONS {
            return Err(err(format!(
                "typed_extension_protocol_options[{name:?}]: not supported"
            )));
        }
        let opts = HttpProtocolOptions::decode(any.value.as_slice())
            .map_err(|e| err(format!("{name}: {e}")))?;
        if let Some(UpstreamProtocolOptions::ExplicitHttpConfig(e)) =
            &opts.upstream_protocol_options
        {
            http2 |= matches!(
                e.protocol_config,
                Some(ProtocolConfig::Http2ProtocolOptions(_))
            );
        }
        if let Some(common) = &opts.common_http_protocol_options {
            pool = pool_options(common).map_err(|e| e.at(name.as_str()))?;
        }
    }
    let connect_timeout = c
        .connect_timeout
        .as_ref()
        .map_or(Duration::from_secs(5), crate::route::proto_duration);
    Ok(ClusterConfig {
        name: c.name.clone(),
        kind,
        connect_timeout,
        http2,
        source_address,
        lb_policy: lb.as_str_name().to_string(),
        lb_config,
        limits,
        pool,
        outlier,
        transport_socket,
        transport_socket_matches,
    })
}

/// Envoy's consecutive-error outlier detection; the detectors it would run that this
/// proxy does not (success rate, failure percentage, local-origin split) are refused.
fn outlier_detection(
    od: &envoy_types::pb::envoy::config::cluster::v3::OutlierDetection,
) -> Result<OutlierDetectionConfig, FieldError> {
    let u32_or = |v: &Option<envoy_types::pb::google::protobuf::UInt32Value>, d: u32| {
        v.as_ref().map_or(d, |v| v.value)
    };
    // Envoy runs success-rate detection by default (enforcing 100%); Istio sets 0.
    if u32_or(&od.enforcing_success_rate, 100) != 0 {
        return Err("success-rate detection (enforcing_success_rate) is not supported; set it to 0 as Istio does".into());
    }
    if u32_or(&od.enforcing_failure_percentage, 0) != 0
        || u32_or(&od.enforcing_failure_percentage_local_origin, 0) != 0
    {
        return Err("failure-percentage detection is not supported".into());
    }
    if od.split_external_local_origin_errors {
        return Err("split_external_local_origin_errors is not supported".into());
    }
    let d = OutlierDetectionConfig::default();
    let duration = |v: &Option<envoy_types::pb::google::protobuf::Duration>, d: Duration| {
        v.as_ref().map_or(d, crate::route::proto_duration)
    };
    Ok(OutlierDetectionConfig {
        interval: duration(&od.interval, d.interval),
        base_ejection_time: duration(&od.base_ejection_time, d.base_ejection_time),
        max_ejection_time: duration(&od.max_ejection_time, d.max_ejection_time),
        max_ejection_time_jitter: duration(
            &od.max_ejection_time_jitter,
            d.max_ejection_time_jitter,
        ),
        max_ejection_percent: u32_or(&od.max_ejection_percent, d.max_ejection_percent).min(100),
        always_eject_one_host: od.always_eject_one_host.as_ref().is_some_and(|b| b.value),
        consecutive_5xx: u32_or(&od.consecutive_5xx, d.consecutive_5xx),
        enforcing_consecutive_5xx: u32_or(
            &od.enforcing_consecutive_5xx,
            d.enforcing_consecutive_5xx,
        ),
        consecutive_gateway_failure: u32_or(
            &od.consecutive_gateway_failure,
            d.consecutive_gateway_failure,
        ),
        enforcing_consecutive_gateway_failure: u32_or(
            &od.enforcing_consecutive_gateway_failure,
            d.enforcing_consecutive_gateway_failure,
        ),
    })
}

/// The DEFAULT priority's circuit breaker thresholds, Envoy's defaults where unset
/// (1024 connections, pending and active requests, 3 concurrent retries).
fn circuit_breaker_limits(c: &Cluster) -> Result<ConnectionLimits, FieldError> {
    let mut limits = ConnectionLimits::default();
    let Some(cb) = &c.circuit_breakers else {
        return Ok(limits);
    };
    for t in &cb.thresholds {
        if t.priority != 0 {
            // HIGH priority: no route of ours asks for it.
            continue;
        }
        if t.retry_budget.is_some() || t.max_connection_pools.is_some() {
            return Err(
                "circuit_breakers: retry_budget and max_connection_pools are not supported".into(),
            );
        }
        let value = |v: &Option<envoy_types::pb::google::protobuf::UInt32Value>, default| {
            v.as_ref().map_or(default, |v| v.value)
        };
        limits = ConnectionLimits {
            max_connections: value(&t.max_connections, 1024),
            max_pending_requests: value(&t.max_pending_requests, 1024),
            max_requests: value(&t.max_requests, 1024),
            max_retries: value(&t.max_retries, 3),
        };
    }
    Ok(limits)
}

/// What the connection pool honours of `common_http_protocol_options`.
fn pool_options(
    common: &envoy_types::pb::envoy::config::core::v3::HttpProtocolOptions,
) -> Result<PoolOptions, FieldError> {
    let max_requests_per_connection = common
        .max_requests_per_connection
        .as_ref()
        .map(|v| v.value)
        .filter(|v| *v > 0);
    if common.max_connection_duration.is_some() || common.max_stream_duration.is_some() {
        return Err("max_connection_duration and max_stream_duration are not supported".into());
    }
    Ok(PoolOptions {
        idle_timeout: common
            .idle_timeout
            .as_ref()
            .map(crate::route::proto_duration),
        max_requests_per_connection,
    })
}

/// `upstream_bind_config`: a source IP (port 0) is all this proxy binds.
fn upstream_source_address(c: &Cluster) -> Result<Option<IpAddr>, FieldError> {
    let Some(bind) = &c.upstream_bind_config else {
        return Ok(None);
    };
    if bind.freebind.as_ref().is_some_and(|b| b.value)
        || !bind.socket_options.is_empty()
        || !bind.extra_source_addresses.is_empty()
        || {
            #[allow(deprecated)]
            let additional = !bind.additional_source_addresses.is_empty();
            additional
        }
        || bind.local_address_selector.is_some()
    {
        return Err(
            "upstream_bind_config: only source_address is supported (no freebind, socket options or extra addresses)"
                .into(),
        );
    }
    let Some(sa) = &bind.source_address else {
        return Ok(None);
    };
    if !matches!(
        sa.port_specifier,
        None | Some(socket_address::PortSpecifier::PortValue(0))
    ) {
        return Err(
            "upstream_bind_config.source_address: a fixed source port is not supported".into(),
        );
    }
    sa.address.parse().map(Some).map_err(|_| {
        FieldError::new(format!(
            "upstream_bind_config.source_address: {:?} is not an IP address",
            sa.address
        ))
    })
}

/// `ring_hash_lb_config` with Envoy's defaults and checks (xxHash only: MURMUR_HASH_2
/// would place hosts differently from Envoy).
fn ring_hash_policy(r: &envoy_cluster::RingHashLbConfig) -> Result<BalancePolicy, FieldError> {
    if r.hash_function != envoy_cluster::ring_hash_lb_config::HashFunction::XxHash as i32 {
        return Err("ring_hash_lb_config.hash_function: only XX_HASH is supported".into());
    }
    let minimum_ring_size = r.minimum_ring_size.as_ref().map_or(1024, |v| v.value);
    let maximum_ring_size = r.maximum_ring_size.as_ref().map_or(8 << 20, |v| v.value);
    if minimum_ring_size > maximum_ring_size || maximum_ring_size > 8 << 20 {
        return Err(format!(
            "ring_hash_lb_config: minimum_ring_size {minimum_ring_size} and maximum_ring_size \
             {maximum_ring_size} must be ordered and at most 8M"
        )
        .into());
    }
    Ok(BalancePolicy::RingHash {
        minimum_ring_size,
        maximum_ring_size,
    })
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[cfg(test)]
mod tests;
