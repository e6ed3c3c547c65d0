//! `/healthz/ready` and `/version`: whether the control plane can serve, and which
//! one it is.

use serde::{Deserialize, Serialize};

/// The 200 answer of `/healthz/ready`; before config is loaded the answer is a 503
/// [`DebugError`](super::DebugError).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub status: ReadinessState,
    /// The version of the config snapshot in force.
    pub config_version: u64,
}

/// The only state a 200 from `/healthz/ready` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessState {
    Ready,
}

/// `/version`: `{"name": "mesh-control", "version": "0.1.0"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersion {
    pub name: String,
    pub version: String,
}
