//! Who this process is: what every answer (HTTP, gRPC, TCP banner) says.

use serde::{Deserialize, Serialize};

/// The workload's identity, from flags or the environment a pod gets (the
/// Kubernetes downward API's `POD_NAME`, `POD_NAMESPACE`, `POD_IP`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// The application, e.g. `reviews` (Istio's `app` label).
    pub name: String,
    /// The version, e.g. `v2` (Istio's `version` label).
    pub version: String,
    pub namespace: String,
    /// The pod (instance) name; the application name when unknown.
    pub pod: String,
    /// The pod's IP, when known.
    pub ip: String,
}

impl Workload {
    /// `name/version`, the key per-version counts are kept under.
    pub fn key(&self) -> String {
        format!("{}/{}", self.name, self.version)
    }

    /// The server-first TCP protocol's greeting, `HELLO <name> <version>\n`.
    pub fn banner(&self) -> String {
        format!("HELLO {} {}\n", self.name, self.version)
    }
}
