//! A pod's injection settings: Istio's per-pod annotations over the config's
//! defaults, each checked here, so that a bad value rejects the pod with the
//! annotation's name instead of producing a proxy that cannot start.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use super::{InjectError, InjectionConfig, KubernetesVersion, NativeSidecarMode, ProxyResources};

pub(super) const PROXY_IMAGE: &str = "sidecar.istio.io/proxyImage";
pub(super) const NATIVE_SIDECAR: &str = "sidecar.istio.io/nativeSidecar";
pub(super) const PROXY_CONFIG: &str = "proxy.istio.io/config";
pub(super) const REWRITE_PROBERS: &str = "sidecar.istio.io/rewriteAppHTTPProbers";
pub(super) const INTERCEPTION_MODE: &str = "sidecar.istio.io/interceptionMode";
pub(super) const LOG_LEVEL: &str = "sidecar.istio.io/logLevel";
pub(super) const PROXY_CPU: &str = "sidecar.istio.io/proxyCPU";
pub(super) const PROXY_MEMORY: &str = "sidecar.istio.io/proxyMemory";
pub(super) const PROXY_CPU_LIMIT: &str = "sidecar.istio.io/proxyCPULimit";
pub(super) const PROXY_MEMORY_LIMIT: &str = "sidecar.istio.io/proxyMemoryLimit";
pub(super) const INCLUDE_OUTBOUND_IP_RANGES: &str =
    "traffic.sidecar.istio.io/includeOutboundIPRanges";
pub(super) const EXCLUDE_OUTBOUND_IP_RANGES: &str =
    "traffic.sidecar.istio.io/excludeOutboundIPRanges";
pub(super) const INCLUDE_INBOUND_PORTS: &str = "traffic.sidecar.istio.io/includeInboundPorts";
pub(super) const EXCLUDE_INBOUND_PORTS: &str = "traffic.sidecar.istio.io/excludeInboundPorts";
pub(super) const INCLUDE_OUTBOUND_PORTS: &str = "traffic.sidecar.istio.io/includeOutboundPorts";
pub(super) const EXCLUDE_OUTBOUND_PORTS: &str = "traffic.sidecar.istio.io/excludeOutboundPorts";
pub(super) const READINESS_INITIAL_DELAY: &str =
    "readiness.status.sidecar.istio.io/initialDelaySeconds";
pub(super) const READINESS_PERIOD: &str = "readiness.status.sidecar.istio.io/periodSeconds";
pub(super) const READINESS_FAILURE_THRESHOLD: &str =
    "readiness.status.sidecar.istio.io/failureThreshold";

/// What the injected containers are made from, for one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSettings {
    pub image: String,
    pub native_sidecar: bool,
    pub hold_application: bool,
    pub rewrite_probes: bool,
    /// `false` with `sidecar.istio.io/interceptionMode: NONE`: no redirect container.
    pub intercept: bool,
    pub log_level: String,
    pub resources: ProxyResources,
    pub include_outbound_ip_ranges: String,
    pub exclude_outbound_ip_ranges: String,
    pub include_inbound_ports: String,
    pub exclude_inbound_ports: String,
    pub include_outbound_ports: String,
    pub exclude_outbound_ports: String,
    /// The proxy's readiness probe: initialDelaySeconds, periodSeconds,
    /// failureThreshold (Istio's defaults 0, 15, 4).
    pub readiness: (i32, i32, i32),
}

impl PodSettings {
    pub fn read(
        pod: &Pod,
        config: &InjectionConfig,
        kubernetes: Option<KubernetesVersion>,
    ) -> Result<Self, InjectError> {
        let empty = BTreeMap::new();
        let a = pod.metadata.annotations.as_ref().unwrap_or(&empty);
        let text = |key: &str, default: &str| a.get(key).cloned().unwrap_or(default.into());
        let native_default = match config.native_sidecar {
            NativeSidecarMode::Enabled => true,
            NativeSidecarMode::Disabled => false,
            NativeSidecarMode::Auto => {
                kubernetes.is_none_or(|v| v >= KubernetesVersion::NATIVE_SIDECARS)
            }
        };
        let settings = PodSettings {
            image: text(PROXY_IMAGE, &config.proxy_image),
            native_sidecar: boolean(a, NATIVE_SIDECAR)?.unwrap_or(native_default),
            hold_application: hold_application(a)?
                .unwrap_or(config.hold_application_until_proxy_starts),
            rewrite_probes: boolean(a, REWRITE_PROBERS)?.unwrap_or(config.rewrite_app_http_probers),
            intercept: match a.get(INTERCEPTION_MODE).map(String::as_str) {
                None | Some("REDIRECT") => true,
                Some("NONE") => false,
                Some(other) => return Err(bad(INTERCEPTION_MODE, other, "REDIRECT or NONE")),
            },
            log_level: text(LOG_LEVEL, &config.log_level),
            resources: resources(a, &config.resources),
            include_outbound_ip_ranges: cidrs(
                a,
                INCLUDE_OUTBOUND_IP_RANGES,
                &config.include_ip_ranges,
                true,
            )?,
            exclude_outbound_ip_ranges: cidrs(
                a,
                EXCLUDE_OUTBOUND_IP_RANGES,
                &config.exclude_ip_ranges,
                false,
            )?,
            include_inbound_ports: ports(
                a,
                INCLUDE_INBOUND_PORTS,
                &config.include_inbound_ports,
                true,
            )?,
            exclude_inbound_ports: ports(
                a,
                EXCLUDE_INBOUND_PORTS,
                &config.exclude_inbound_ports,
                false,
            )?,
            include_outbound_ports: ports(a, INCLUDE_OUTBOUND_PORTS, "", false)?,
            exclude_outbound_ports: ports(
                a,
                EXCLUDE_OUTBOUND_PORTS,
                &config.exclude_outbound_ports,
                false,
            )?,
            readiness: (
                seconds(a, READINESS_INITIAL_DELAY, 0)?,
                seconds(a, READINESS_PERIOD, 15)?,
                seconds(a, READINESS_FAILURE_THRESHOLD, 4)?,
            ),
        };
        Ok(settings)
    }
}

fn bad(annotation: &str, value: &str, want: &str) -> InjectError {
    InjectError::Annotation {
        annotation: annotation.into(),
        message: format!("`{value}` is not valid; write {want}"),
    }
}

/// Istio parses these with Go's `strconv.ParseBool`.
fn boolean(a: &BTreeMap<String, String>, key: &str) -> Result<Option<bool>, InjectError> {
    match a.get(key).map(String::as_str) {
        None => Ok(None),
        Some("true" | "True" | "TRUE" | "1" | "t" | "T") => Ok(Some(true)),
        Some("false" | "False" | "FALSE" | "0" | "f" | "F") => Ok(Some(false)),
        Some(other) => Err(bad(key, other, "true or false")),
    }
}

/// `proxy.istio.io/config` is a ProxyConfig in YAML or JSON; only
/// `holdApplicationUntilProxyStarts` means something to this injector.
fn hold_application(a: &BTreeMap<String, String>) -> Result<Option<bool>, InjectError> {
    let Some(text) = a.get(PROXY_CONFIG) else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_norway::from_str(text).map_err(|e| {
        bad(
            PROXY_CONFIG,
            &e.to_string(),
            "a ProxyConfig in YAML, e.g. `holdApplicationUntilProxyStarts: true`",
        )
    })?;
    match value.get("holdApplicationUntilProxyStarts") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(bad(
            PROXY_CONFIG,
            &format!("holdApplicationUntilProxyStarts: {other}"),
            "holdApplicationUntilProxyStarts: true or false",
        )),
    }
}

/// Any of the four annotations replaces the config's resources entirely (Istio's
/// template); quantities are checked by the apiserver.
fn resources(a: &BTreeMap<String, String>, default: &ProxyResources) -> ProxyResources {
    let keys = [PROXY_CPU, PROXY_MEMORY, PROXY_CPU_LIMIT, PROXY_MEMORY_LIMIT];
    if !keys.iter().any(|k| a.contains_key(*k)) {
        return default.clone();
    }
    let list = |cpu: &str, memory: &str| {
        [("cpu", cpu), ("memory", memory)]
            .into_iter()
            .filter_map(|(name, key)| Some((name.to_string(), a.get(key)?.clone())))
            .collect()
    };
    ProxyResources {
        requests: list(PROXY_CPU, PROXY_MEMORY),
        limits: list(PROXY_CPU_LIMIT, PROXY_MEMORY_LIMIT),
    }
}

fn ports(
    a: &BTreeMap<String, String>,
    key: &str,
    default: &str,
    star: bool,
) -> Result<String, InjectError> {
    let value = a.get(key).map_or(default, String::as_str).trim();
    if star && value == "*" {
        return Ok(value.into());
    }
    let ok = list(value).all(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    let want = if star {
        "`*` or ports as 80,443"
    } else {
        "ports as 80,443"
    };
    ok.then(|| value.into())
        .ok_or_else(|| bad(key, value, want))
}

fn cidrs(
    a: &BTreeMap<String, String>,
    key: &str,
    default: &str,
    star: bool,
) -> Result<String, InjectError> {
    let value = a.get(key).map_or(default, String::as_str).trim();
    if star && value == "*" {
        return Ok(value.into());
    }
    let cidr = |c: &str| {
        c.split_once('/')
            .is_some_and(|(ip, prefix)| match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => prefix.parse::<u8>().is_ok_and(|p| p <= 32),
                Ok(IpAddr::V6(_)) => prefix.parse::<u8>().is_ok_and(|p| p <= 128),
                Err(_) => false,
            })
    };
    let want = if star {
        "`*` or CIDRs as 10.0.0.0/8,fd00::/8"
    } else {
        "CIDRs as 10.0.0.0/8,fd00::/8"
    };
    list(value)
        .all(cidr)
        .then(|| value.into())
        .ok_or_else(|| bad(key, value, want))
}

fn seconds(a: &BTreeMap<String, String>, key: &str, default: i32) -> Result<i32, InjectError> {
    match a.get(key) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad(key, v, "a number")),
    }
}

fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}
