//! The injector's configuration: the `config.yaml` key of the ConfigMap
//! `mesh-sidecar-injector` (`mesh-control --injection-config`, `meshctl inject
//! --injection-config`). Every field has a default, so an empty document is valid.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::duration::Duration;

/// How pods are injected (Istio's `values.global.proxy.*` and `sidecarInjectorWebhook.*`
/// that apply to this mesh). Unknown fields are refused, so that a typo is not a silent
/// default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct InjectionConfig {
    /// The image of the proxy container and of the `mesh-redirect` init container
    /// (one binary, three roles); `sidecar.istio.io/proxyImage` overrides it per pod.
    pub proxy_image: String,
    /// `imagePullPolicy` of both injected containers.
    pub image_pull_policy: String,
    /// The control plane's xDS and CA address (`MESH_XDS_ADDRESS`).
    pub xds_address: String,
    /// The SPIFFE trust domain of workload identities (`MESH_TRUST_DOMAIN`).
    pub trust_domain: String,
    /// The cluster's DNS domain (`MESH_CLUSTER_DOMAIN`).
    pub cluster_domain: String,
    /// The audience of the projected ServiceAccount token the proxy presents to the CA.
    pub token_audience: String,
    /// The ConfigMap holding the mesh's root certificate, mounted at
    /// `/var/run/secrets/istio`.
    pub root_cert_config_map: String,
    /// The proxy's user and group id; the redirect rules exempt its traffic.
    pub proxy_uid: i64,
    /// Whether the proxy is a native sidecar (an init container with
    /// `restartPolicy: Always`): `auto` (native when the apiserver is 1.29 or newer),
    /// `true` or `false`; `sidecar.istio.io/nativeSidecar` overrides it per pod.
    pub native_sidecar: NativeSidecarMode,
    /// Start the app containers only once the proxy is ready (Istio's
    /// `holdApplicationUntilProxyStarts`); `proxy.istio.io/config` overrides it per pod.
    pub hold_application_until_proxy_starts: bool,
    /// Rewrite the apps' HTTP, TCP and gRPC probes to go through the proxy's status port,
    /// so that they work under STRICT mTLS; `sidecar.istio.io/rewriteAppHTTPProbers`
    /// overrides it per pod.
    #[serde(rename = "rewriteAppHTTPProbers")]
    pub rewrite_app_http_probers: bool,
    /// The proxy's resources (and the init container's), unless the pod has any of
    /// `sidecar.istio.io/proxyCPU`, `proxyMemory`, `proxyCPULimit`, `proxyMemoryLimit`.
    pub resources: ProxyResources,
    /// Outbound destinations captured (CIDRs, or `*`); the annotation
    /// `traffic.sidecar.istio.io/includeOutboundIPRanges` overrides it.
    #[serde(rename = "includeIPRanges")]
    pub include_ip_ranges: String,
    /// Outbound destinations never captured (CIDRs); the annotation
    /// `traffic.sidecar.istio.io/excludeOutboundIPRanges` overrides it.
    #[serde(rename = "excludeIPRanges")]
    pub exclude_ip_ranges: String,
    /// Inbound ports captured (`*` or a list); the annotation
    /// `traffic.sidecar.istio.io/includeInboundPorts` overrides it.
    pub include_inbound_ports: String,
    /// Inbound ports never captured (the proxy's own ports always are not); the
    /// annotation `traffic.sidecar.istio.io/excludeInboundPorts` overrides it.
    pub exclude_inbound_ports: String,
    /// Outbound ports never captured; the annotation
    /// `traffic.sidecar.istio.io/excludeOutboundPorts` overrides it.
    pub exclude_outbound_ports: String,
    /// The proxy's worker threads (`MESH_CONCURRENCY`; 0: one per CPU).
    pub concurrency: u32,
    /// How long the proxy drains on SIGTERM (`MESH_DRAIN_DURATION`).
    pub drain_duration: Duration,
    /// The proxy's log level (`MESH_LOG`); `sidecar.istio.io/logLevel` overrides it.
    pub log_level: String,
    /// Pods whose labels match any of these are not injected unless they ask for it
    /// (Istio's `neverInjectSelector`).
    pub never_inject_selector: Vec<LabelSelector>,
    /// Pods whose labels match any of these are injected unless they opt out, even in
    /// a namespace without the injection label (Istio's `alwaysInjectSelector`).
    pub always_inject_selector: Vec<LabelSelector>,
}

impl Default for InjectionConfig {
    fn default() -> Self {
        InjectionConfig {
            proxy_image: format!("ghcr.io/mesh-dev/mesh-proxy:{}", env!("CARGO_PKG_VERSION")),
            image_pull_policy: "IfNotPresent".into(),
            xds_address: "mesh-control.mesh-system.svc:15012".into(),
            trust_domain: "cluster.local".into(),
            cluster_domain: "cluster.local".into(),
            token_audience: "istio-ca".into(),
            root_cert_config_map: "mesh-ca-root-cert".into(),
            proxy_uid: 1337,
            native_sidecar: NativeSidecarMode::Auto,
            hold_application_until_proxy_starts: false,
            rewrite_app_http_probers: true,
            resources: ProxyResources::default(),
            include_ip_ranges: "*".into(),
            exclude_ip_ranges: String::new(),
            include_inbound_ports: "*".into(),
            exclude_inbound_ports: String::new(),
            exclude_outbound_ports: String::new(),
            concurrency: 2,
            drain_duration: Duration::from_std(std::time::Duration::from_secs(5)),
            log_level: "info".into(),
            never_inject_selector: Vec::new(),
            always_inject_selector: Vec::new(),
        }
    }
}

impl InjectionConfig {
    /// Reads `config.yaml`; the error names the field.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(InjectionConfig::default());
        }
        let de = serde_norway::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            format!("field `{path}`: {}", e.into_inner())
        })
    }
}

/// Requests and limits as Kubernetes quantities (`10m`, `40Mi`, `"2"`), by resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProxyResources {
    /// What the scheduler reserves (`cpu`, `memory`); empty: none set.
    pub requests: BTreeMap<String, String>,
    /// The most the containers may use; empty: none set.
    pub limits: BTreeMap<String, String>,
}

impl Default for ProxyResources {
    /// Istio's sidecar defaults (`global.proxy.resources`).
    fn default() -> Self {
        let list = |cpu: &str, memory: &str| {
            BTreeMap::from([("cpu".into(), cpu.into()), ("memory".into(), memory.into())])
        };
        ProxyResources {
            requests: list("10m", "40Mi"),
            limits: list("2", "1Gi"),
        }
    }
}

/// `nativeSidecar`: `auto`, `true` or `false` (YAML booleans or strings).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NativeSidecarMode {
    /// Native when the apiserver is 1.29 or newer (where sidecar containers are on by
    /// default); when its version is unknown, native.
    #[default]
    Auto,
    Enabled,
    Disabled,
}

impl Serialize for NativeSidecarMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            NativeSidecarMode::Auto => s.serialize_str("auto"),
            NativeSidecarMode::Enabled => s.serialize_bool(true),
            NativeSidecarMode::Disabled => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for NativeSidecarMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(NativeSidecarMode::Enabled),
            Raw::Bool(false) => Ok(NativeSidecarMode::Disabled),
            Raw::Text(t) => match t.as_str() {
                "auto" => Ok(NativeSidecarMode::Auto),
                "true" => Ok(NativeSidecarMode::Enabled),
                "false" => Ok(NativeSidecarMode::Disabled),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not a nativeSidecar mode; write auto, true or false"
                ))),
            },
        }
    }
}

/// An apiserver's version, as `kubectl version` or `/version` shows it (`1.29`,
/// `v1.29.3`, `v1.30.2-gke.1`, or a minor of `29+`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubernetesVersion {
    /// The first version with sidecar containers on by default (beta in 1.29).
    pub const NATIVE_SIDECARS: KubernetesVersion = KubernetesVersion {
        major: 1,
        minor: 29,
    };
}

impl FromStr for KubernetesVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a Kubernetes version; write it as 1.29 or v1.29.3");
        let mut parts = s.trim().trim_start_matches('v').split('.');
        let digits = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            let end = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
            p[..end].parse().ok()
        };
        let major = digits(parts.next()).ok_or_else(bad)?;
        let minor = digits(parts.next()).ok_or_else(bad)?;
        Ok(KubernetesVersion { major, minor })
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}
