//! A DestinationRule's traffic policy on a cluster: load balancing, connection pool
//! limits (circuit breakers), outlier detection, and the route hash policy that
//! consistent hashing needs.

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, OutlierDetection as EnvoyOutlierDetection, circuit_breakers, cluster,
};
use envoy_types::pb::envoy::config::core::v3::{
    Http1ProtocolOptions, Http2ProtocolOptions, HttpProtocolOptions as CommonHttpProtocolOptions,
    RoutingPriority, TcpKeepalive,
};
use envoy_types::pb::envoy::config::route::v3::route_action::{HashPolicy, hash_policy};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::UInt64Value;
use mesh_api::networking::{
    ClientTlsSettings, ConnectionPoolSettings, DestinationRule, LoadBalancerSettings,
    OutlierDetection, SimpleLb, TrafficPolicy,
};

use super::names::HTTP_PROTOCOL_OPTIONS;
use super::proto::{any, duration, seconds, u32_value};

/// Istio's connect timeout when the DestinationRule sets none.
const DEFAULT_CONNECT_TIMEOUT_SECS: i64 = 10;
/// Istio's circuit-breaker thresholds when none are set: effectively unlimited.
const UNLIMITED: u32 = u32::MAX;

/// The parts of a traffic policy that apply to one cluster, after Istio's merge:
/// the rule's policy, its port-level settings for the port, the subset's policy and
/// the subset's port-level settings, each overriding the one before.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClusterPolicy<'a> {
    pub(crate) load_balancer: Option<&'a LoadBalancerSettings>,
    pub(crate) connection_pool: Option<&'a ConnectionPoolSettings>,
    pub(crate) outlier_detection: Option<&'a OutlierDetection>,
    pub(crate) tls: Option<&'a ClientTlsSettings>,
}

impl<'a> ClusterPolicy<'a> {
    /// The policy for `port` of the rule's service, for `subset` (`""` for none).
    pub(crate) fn new(rule: Option<&'a DestinationRule>, subset: &str, port: u16) -> Self {
        let mut policy = ClusterPolicy::default();
        let Some(rule) = rule else {
            return policy;
        };
        if let Some(tp) = &rule.spec.traffic_policy {
            policy.merge(tp, port);
        }
        let subset_policy = rule
            .spec
            .subsets
            .iter()
            .find(|s| s.name.as_deref() == Some(subset) && !subset.is_empty())
            .and_then(|s| s.traffic_policy.as_ref());
        if let Some(tp) = subset_policy {
            policy.merge(tp, port);
        }
        policy
    }

    fn merge(&mut self, tp: &'a TrafficPolicy, port: u16) {
        self.load_balancer = tp.load_balancer.as_ref().or(self.load_balancer);
        self.connection_pool = tp.connection_pool.as_ref().or(self.connection_pool);
        self.outlier_detection = tp.outlier_detection.as_ref().or(self.outlier_detection);
        self.tls = tp.tls.as_ref().or(self.tls);
        let port_level = tp
            .port_level_settings
            .iter()
            .find(|p| p.port.as_ref().and_then(|p| p.number) == Some(u32::from(port)));
        if let Some(p) = port_level {
            self.load_balancer = p.load_balancer.as_ref().or(self.load_balancer);
            self.connection_pool = p.connection_pool.as_ref().or(self.connection_pool);
            self.outlier_detection = p.outlier_detection.as_ref().or(self.outlier_detection);
            self.tls = p.tls.as_ref().or(self.tls);
        }
    }

    /// Sets the cluster's LB policy, timeouts, circuit breakers, outlier detection and
    /// (for HTTP ports) upstream HTTP options.
    pub(crate) fn apply(&self, c: &mut Cluster, http: Option<UpstreamHttp>) {
        self.apply_load_balancer(c);
        self.apply_connection_pool(c, http);
        if let Some(od) = self.outlier_detection {
            apply_outlier_detection(c, od);
        }
    }

    /// Whether a cluster for a port of protocol `http` speaks HTTP/2 upstream: HTTP/2
    /// ports, and HTTP/1.1 ones the rule upgrades (`h2UpgradePolicy: UPGRADE`).
    pub(crate) fn upstream_http2(&self, http: Option<UpstreamHttp>) -> bool {
        let upgrade = self
            .connection_pool
            .and_then(|p| p.http.as_ref())
            .and_then(|h| h.h2_upgrade_policy)
            == Some(mesh_api::networking::H2UpgradePolicy::Upgrade);
        match http {
            Some(UpstreamHttp::Http2) => true,
            Some(UpstreamHttp::Http1) => upgrade,
            None => false,
        }
    }

    fn apply_load_balancer(&self, c: &mut Cluster) {
        let original_dst = Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::OriginalDst as i32,
        ));
        if c.cluster_discovery_type == original_dst {
            // The destination is the connection's; there is nothing to balance.
            c.lb_policy = cluster::LbPolicy::ClusterProvided as i32;
            return;
        }
        let lb = self.load_balancer.cloned().unwrap_or_default();
        if let Some(hash) = &lb.consistent_hash {
            if let Some(maglev) = &hash.maglev {
                c.lb_policy = cluster::LbPolicy::Maglev as i32;
                c.lb_config = Some(cluster::LbConfig::MaglevLbConfig(cluster::MaglevLbConfig {
                    table_size: maglev.table_size.map(|value| UInt64Value { value }),
                }));
            } else {
                c.lb_policy = cluster::LbPolicy::RingHash as i32;
                let min = hash
                    .ring_hash
                    .as_ref()
                    .and_then(|r| r.minimum_ring_size)
                    .or(hash.minimum_ring_size);
                c.lb_config = Some(cluster::LbConfig::RingHashLbConfig(
                    cluster::RingHashLbConfig {
                        minimum_ring_size: min.map(|value| UInt64Value { value }),
                        ..Default::default()
                    },
                ));
            }
            return;
        }
        c.lb_policy = match lb.simple_or_default() {
            Some(SimpleLb::RoundRobin) => cluster::LbPolicy::RoundRobin,
            Some(SimpleLb::Random) => cluster::LbPolicy::Random,
            Some(SimpleLb::Passthrough) => {
                // Istio: PASSTHROUGH turns the cluster into an ORIGINAL_DST one.
                c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
                    cluster::DiscoveryType::OriginalDst as i32,
                ));
                c.eds_cluster_config = None;
                c.load_assignment = None;
                cluster::LbPolicy::ClusterProvided
            }
            _ => cluster::LbPolicy::LeastRequest,
        } as i32;
    }

    fn apply_connection_pool(&self, c: &mut Cluster, http: Option<UpstreamHttp>) {
        let pool = self.connection_pool.cloned().unwrap_or_default();
        let tcp = pool.tcp.unwrap_or_default();
        let h = pool.http.unwrap_or_default();
        let limit = |v: Option<i32>| {
            u32_value(
                v.and_then(|v| u32::try_from(v).ok())
                    .filter(|v| *v > 0)
                    .unwrap_or(UNLIMITED),
            )
        };
        c.connect_timeout = Some(
            tcp.connect_timeout
                .as_ref()
                .map_or(seconds(DEFAULT_CONNECT_TIMEOUT_SECS), |d| {
                    duration(d.as_std())
                }),
        );
        c.circuit_breakers = Some(CircuitBreakers {
            thresholds: vec![circuit_breakers::Thresholds {
                priority: RoutingPriority::Default as i32,
                max_connections: Some(limit(tcp.max_connections)),
                max_pending_requests: Some(limit(h.http1_max_pending_requests)),
                max_requests: Some(limit(h.http2_max_requests)),
                max_retries: Some(limit(h.max_retries)),
                track_remaining: true,
                ..Default::default()
            }],
            ..Default::default()
        });
        if let Some(ka) = &tcp.tcp_keepalive {
            c.upstream_connection_options = Some(
                envoy_types::pb::envoy::config::cluster::v3::UpstreamConnectionOptions {
                    tcp_keepalive: Some(TcpKeepalive {
                        keepalive_probes: ka.probes.map(u32_value),
                        keepalive_time: ka.time.as_ref().map(|d| secs_u32(d.as_std())),
                        keepalive_interval: ka.interval.as_ref().map(|d| secs_u32(d.as_std())),
                    }),
                    ..Default::default()
                },
            );
        }
        let Some(http) = http else {
            return;
        };
        let common = CommonHttpProtocolOptions {
            idle_timeout: h.idle_timeout.as_ref().map(|d| duration(d.as_std())),
            max_requests_per_connection: h
                .max_requests_per_connection
                .and_then(|v| u32::try_from(v).ok())
                .filter(|v| *v > 0)
                .map(u32_value),
            max_connection_duration: tcp
                .max_connection_duration
                .as_ref()
                .map(|d| duration(d.as_std())),
            ..Default::default()
        };
        let explicit = if self.upstream_http2(Some(http)) {
            http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                Http2ProtocolOptions {
                    max_concurrent_streams: h
                        .max_concurrent_streams
                        .and_then(|v| u32::try_from(v).ok())
                        .filter(|v| *v > 0)
                        .map(u32_value),
                    ..Default::default()
                },
            )
        } else {
            http_protocol_options::explicit_http_config::ProtocolConfig::HttpProtocolOptions(
                Http1ProtocolOptions::default(),
            )
        };
        let options = HttpProtocolOptions {
            common_http_protocol_options: Some(common),
            upstream_protocol_options: Some(
                http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                    http_protocol_options::ExplicitHttpConfig {
                        protocol_config: Some(explicit),
                    },
                ),
            ),
            ..Default::default()
        };
        c.typed_extension_protocol_options
            .insert(HTTP_PROTOCOL_OPTIONS.to_string(), any(&options));
    }

    /// The route hash policy consistent hashing needs (on the route, not the cluster).
    pub(crate) fn hash_policy(&self) -> Vec<HashPolicy> {
        let Some(hash) = self
            .load_balancer
            .and_then(|lb| lb.consistent_hash.as_ref())
        else {
            return Vec::new();
        };
        let specifier = if let Some(header) = &hash.http_header_name {
            hash_policy::PolicySpecifier::Header(hash_policy::Header {
                header_name: header.clone(),
                ..Default::default()
            })
        } else if let Some(cookie) = &hash.http_cookie {
            hash_policy::PolicySpecifier::Cookie(hash_policy::Cookie {
                name: cookie.name.clone().unwrap_or_default(),
                path: cookie.path.clone().unwrap_or_default(),
                ttl: cookie.ttl.as_ref().map(|d| duration(d.as_std())),
                attributes: cookie
                    .attributes
                    .iter()
                    .map(|a| hash_policy::CookieAttribute {
                        name: a.name.clone().unwrap_or_default(),
                        value: a.value.clone().unwrap_or_default(),
                    })
                    .collect(),
            })
        } else if let Some(param) = &hash.http_query_parameter_name {
            hash_policy::PolicySpecifier::QueryParameter(hash_policy::QueryParameter {
                name: param.clone(),
            })
        } else if hash.use_source_ip == Some(true) {
            hash_policy::PolicySpecifier::ConnectionProperties(hash_policy::ConnectionProperties {
                source_ip: true,
            })
        } else {
            return Vec::new();
        };
        vec![HashPolicy {
            policy_specifier: Some(specifier),
            terminal: false,
        }]
    }
}

/// The upstream HTTP protocol of a cluster for an HTTP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpstreamHttp {
    Http1,
    Http2,
}

fn secs_u32(d: std::time::Duration) -> envoy_types::pb::google::protobuf::UInt32Value {
    u32_value(u32::try_from(d.as_secs()).unwrap_or(u32::MAX).max(1))
}

/// Istio's mapping: each consecutive-error kind is enforced 100% when its threshold is
/// above zero; the deprecated `consecutiveErrors` counts gateway errors.
fn apply_outlier_detection(c: &mut Cluster, od: &OutlierDetection) {
    let enforcing = |v: u32| u32_value(if v > 0 { 100 } else { 0 });
    let mut out = EnvoyOutlierDetection {
        // As Istio: success-rate detection (on by default in Envoy) stays off.
        enforcing_success_rate: Some(u32_value(0)),
        ..Default::default()
    };
    if let Some(v) = od.consecutive_5xx_errors {
        out.consecutive_5xx = Some(u32_value(v));
        out.enforcing_consecutive_5xx = Some(enforcing(v));
    }
    let gateway = od
        .consecutive_gateway_errors
        .or(od.consecutive_errors.and_then(|v| u32::try_from(v).ok()));
    if let Some(v) = gateway {
        out.consecutive_gateway_failure = Some(u32_value(v));
        out.enforcing_consecutive_gateway_failure = Some(enforcing(v));
        if od.consecutive_5xx_errors.is_none() {
            // Only gateway errors count: Envoy's 5xx detector (on by default) is off.
            out.enforcing_consecutive_5xx = Some(u32_value(0));
        }
    }
    out.interval = od.interval.as_ref().map(|d| duration(d.as_std()));
    out.base_ejection_time = od.base_ejection_time.as_ref().map(|d| duration(d.as_std()));
    if let Some(p) = od.max_ejection_percent.and_then(|p| u32::try_from(p).ok()) {
        out.max_ejection_percent = Some(u32_value(p.min(100)));
    }
    if od.split_external_local_origin_errors == Some(true) {
        out.split_external_local_origin_errors = true;
        out.consecutive_local_origin_failure = od.consecutive_local_origin_failures.map(u32_value);
        out.enforcing_consecutive_local_origin_failure = Some(u32_value(100));
    }
    c.outlier_detection = Some(out);
    // Istio turns Envoy's panic threshold off unless minHealthPercent asks for one:
    // with few endpoints per service, panic mode would undo every ejection.
    let panic = od.min_health_percent.unwrap_or(0).clamp(0, 100);
    c.common_lb_config
        .get_or_insert_with(Default::default)
        .healthy_panic_threshold = Some(Percent {
        value: f64::from(panic),
    });
}
