//! Where the kind cluster is and what it runs, from the environment that
//! `cargo xtask e2e kind` sets.

use std::io::Write as _;
use std::path::PathBuf;

use super::{ControlPlane, Kubectl};

/// The environment variable that selects the kind suite (`1`); without it the kind
/// tests say why they skip.
pub const SELECT_ENV: &str = "MESH_E2E_KIND";
/// A config change here is a few kubectl round trips and a control-plane restart is a
/// pod rescheduled and made ready, against a few milliseconds on the local cluster.
const DEFAULT_LOAD_SCALE: u64 = 10;

/// Where the cluster is and what it runs, from the environment `cargo xtask e2e kind`
/// sets (defaults: the charts' names, the workspace's image tag).
#[derive(Debug, Clone)]
pub struct KindConfig {
    pub kubectl: Kubectl,
    /// The image with [`crate::cluster::SAMPLE_APP`] (`MESH_KIND_SAMPLE_IMAGE`).
    pub sample_image: String,
    pub control_plane: ControlPlane,
    /// Where logs go when a scenario fails (`MESH_KIND_LOGS`).
    pub logs: PathBuf,
    /// [`crate::cluster::Cluster::load_scale`] (`MESH_KIND_LOAD_SCALE`, default 10).
    pub load_scale: u64,
}

impl KindConfig {
    /// The configuration when [`SELECT_ENV`] is `1`; `None` (after saying why) otherwise.
    /// Reads `KUBECONFIG`, `MESH_KIND_CONTEXT`, `MESH_KUBECTL`, `MESH_KIND_SAMPLE_IMAGE`,
    /// `MESH_KIND_CONTROL_PLANE_NAMESPACE`, `MESH_KIND_LOGS` and `MESH_KIND_LOAD_SCALE`.
    pub fn from_env() -> Option<KindConfig> {
        if std::env::var(SELECT_ENV).as_deref() != Ok("1") {
            let test = std::thread::current()
                .name()
                .filter(|name| *name != "main")
                .unwrap_or("this test")
                .to_string();
            // Straight to stderr, as `prerequisites` does: libtest captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: the kind suite needs a Kubernetes cluster with the charts \
                 installed; `cargo xtask e2e kind` creates one and sets {SELECT_ENV}=1 \
                 (GitHub Actions runs it: .github/workflows/e2e-kind.yml)"
            );
            return None;
        }
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let kubectl = Kubectl::new(
            &var("MESH_KUBECTL").unwrap_or_else(|| "kubectl".to_string()),
            var("KUBECONFIG"),
            var("MESH_KIND_CONTEXT"),
        );
        let version = env!("CARGO_PKG_VERSION");
        Some(KindConfig {
            sample_image: var("MESH_KIND_SAMPLE_IMAGE")
                .unwrap_or_else(|| format!("ghcr.io/mesh-dev/mesh-sample-app:{version}")),
            control_plane: ControlPlane {
                kubectl: kubectl.clone(),
                namespace: var("MESH_KIND_CONTROL_PLANE_NAMESPACE")
                    .unwrap_or_else(|| "mesh-system".to_string()),
                name: "mesh-control".to_string(),
                monitoring_port: "http-monitoring".to_string(),
            },
            kubectl,
            logs: var("MESH_KIND_LOGS")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("mesh-kind-logs")),
            load_scale: var("MESH_KIND_LOAD_SCALE")
                .and_then(|s| s.parse().ok())
                .unwrap_or(DEFAULT_LOAD_SCALE),
        })
    }
}
