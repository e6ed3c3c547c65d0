//! Sidecar: narrows what a workload's proxy listens on and which services it can reach.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::connection_pool::ConnectionPoolSettings;
use super::constraints::required;
use super::destination::Destination;
use super::gateway::ServerTlsSettings;
use crate::selector::NetworkingWorkloadSelector;

/// Inbound listeners, reachable outbound hosts and outbound policy of the proxies of
/// the selected workloads (all in the namespace when `workloadSelector` is unset).
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "networking.mesh.dev",
    version = "v1alpha1",
    kind = "Sidecar",
    plural = "sidecars",
    singular = "sidecar",
    namespaced,
    category = "mesh-dev",
    category = "networking-mesh-dev",
    derive = "PartialEq",
    doc = "A Sidecar (Istio's `networking.istio.io` kind, served as `networking.mesh.dev/v1alpha1`)."
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarSpec {
    /// Workloads the Sidecar applies to; all in the namespace when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<NetworkingWorkloadSelector>,
    /// Inbound listeners; default one per port the workload's services expose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingress: Vec<IstioIngressListener>,
    /// Outbound listeners and the hosts reachable through them; default every host
    /// exported to the namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<IstioEgressListener>,
    /// Limits on connections accepted for all inbound ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_connection_pool: Option<ConnectionPoolSettings>,
    /// What happens to traffic to hosts outside the registry; mesh-wide default when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
}

/// An inbound listener of the proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioIngressListener {
    /// The port traffic arrives on. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub port: Option<SidecarPort>,
    /// IP address to bind to; default the workload's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// How traffic reaches the listener; default DEFAULT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_mode: Option<CaptureMode>,
    /// Where the traffic goes: `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT` or
    /// `unix:///path`; default the workload's address and the port's target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_endpoint: Option<String>,
    /// TLS termination for traffic from outside the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ServerTlsSettings>,
    /// Limits on connections accepted on this port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_pool: Option<ConnectionPoolSettings>,
}

/// An outbound listener of the proxy and the hosts reachable through it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioEgressListener {
    /// The port; when unset the hosts are reachable on all their ports.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<SidecarPort>,
    /// IP address or Unix socket to bind to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// How traffic reaches the listener; default DEFAULT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_mode: Option<CaptureMode>,
    /// Reachable hosts, `namespace/dnsName` (`*`, `.` and `~` namespaces allowed).
    /// Required.
    pub hosts: Vec<String>,
}

/// A port of a Sidecar listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarPort {
    /// Port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// `HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP` or `TLS`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Name of the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Deprecated and ignored by Istio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// How traffic is captured into a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureMode {
    /// The environment's default capture (iptables redirection in Kubernetes).
    Default,
    /// Redirected by iptables.
    Iptables,
    /// Not captured: the application connects to the listener directly.
    None,
}

/// Handling of outbound traffic to hosts the registry does not know.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutboundTrafficPolicy {
    /// REGISTRY_ONLY or ALLOW_ANY; default ALLOW_ANY.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<OutboundTrafficPolicyMode>,
    /// Where unknown traffic goes in ALLOW_ANY mode, instead of its original destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_proxy: Option<Destination>,
}

/// Outbound traffic policy mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundTrafficPolicyMode {
    /// Only hosts in the registry are reachable; other traffic is blocked.
    RegistryOnly,
    /// Traffic to unknown hosts is passed through.
    AllowAny,
}

impl OutboundTrafficPolicyMode {
    /// Istio's default mode.
    pub const ISTIO_DEFAULT: OutboundTrafficPolicyMode = OutboundTrafficPolicyMode::AllowAny;
}
