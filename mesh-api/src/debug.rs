//! The control plane's debug endpoint (Istio's monitoring port, 15014) as types:
//! `mesh-control` serializes them and `meshctl` deserializes them, so the two ends
//! share one definition of every answer and cannot drift apart.
//! `docs/control-plane.md` documents the JSON.
//!
//! - [`path::SYNCZ`]: a list of [`ProxySyncStatus`], one per ADS stream.
//! - [`path::CONFIG_DUMP`]: a [`ProxyConfigDump`], the resources last sent to one proxy.
//! - [`path::CONFIG`]: a [`MeshConfigSummary`], the mesh model in force.
//! - [`path::READY`]: a [`Readiness`]; [`path::VERSION`]: a [`ServerVersion`].
//! - [`path::TOKENS`] (POST): a [`TokenRequest`] in, a [`TokenResponse`] out.
//! - [`path::CERTIFICATES`]: the [`IssuedCertificates`].
//! - `/` and `/debug`: an [`EndpointIndex`]; every 4xx/5xx answer: a [`DebugError`].

use serde::{Deserialize, Serialize};

mod config_dump;
mod health;
mod identity;
mod mesh_config;
mod sync;

pub use config_dump::{
    ActionView, CircuitBreakerThresholdsView, ClusterSpecifierView, ClusterView,
    DirectResponseActionView, DumpedResource, EndpointsView, FilterChainMatchView, FilterChainView,
    LbEndpointView, ListenerView, NetworkFilterView, OutlierDetectionView, PathMatchView,
    ProxyConfigDump, RedirectActionView, RetryPolicyView, RouteActionView, RouteConfigurationView,
    RouteMatchView, RouteView, UndecodableResource, VirtualHostView, WeightedClusterView,
};
pub use health::{Readiness, ReadinessState, ServerVersion};
pub use identity::{
    IssuedCertificate, IssuedCertificates, TokenRequest, TokenResponse, WorkloadCertificates,
};
pub use mesh_config::{
    EndpointSummary, MeshConfigSummary, ServicePortSummary, ServiceSummary, WorkloadSummary,
};
pub use sync::{AdsProtocol, DiscoveryService, ProxySyncStatus, SyncState, TypeSyncStatus};

/// The endpoint's paths.
pub mod path {
    /// Sync state of every connected proxy.
    pub const SYNCZ: &str = "/debug/syncz";
    /// The resources last sent to one proxy, named by the `proxy` query parameter.
    pub const CONFIG_DUMP: &str = "/debug/config_dump";
    /// The query parameter of [`CONFIG_DUMP`]: a node id or `pod.namespace`.
    pub const CONFIG_DUMP_PROXY: &str = "proxy";
    /// The mesh model in force and every config error.
    pub const CONFIG: &str = "/debug/config";
    /// 200 once config is loaded, 503 before.
    pub const READY: &str = "/healthz/ready";
    /// The control plane's name and version.
    pub const VERSION: &str = "/version";
    /// `POST`: a workload token (local callers or the admin token only).
    pub const TOKENS: &str = "/debug/tokens";
    /// The certificates the CA issued, by workload.
    pub const CERTIFICATES: &str = "/debug/certificates";
}

/// The answer at `/` and `/debug`: the paths there are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointIndex {
    pub endpoints: Vec<String>,
}

/// The body of every 4xx/5xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebugError {
    /// What went wrong and what to do.
    pub error: String,
    /// With a config dump of an unknown or unnamed proxy: the node ids connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_proxies: Option<Vec<String>>,
    /// With an unknown path: the paths there are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<String>>,
}

impl DebugError {
    /// An error with nothing but its message.
    pub fn new(error: impl Into<String>) -> DebugError {
        DebugError {
            error: error.into(),
            known_proxies: None,
            endpoints: None,
        }
    }
}

#[cfg(test)]
mod tests;
