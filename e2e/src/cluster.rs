//! A cluster to run scenarios on: pods (an app, and a sidecar when in the mesh),
//! Services and mesh config, driven through one trait so a scenario is written once
//! and runs on the local network-namespace cluster ([`LocalCluster`]) and on kind.
//!
//! The trait speaks of pods, services and config only; how a pod is made (a network
//! namespace, a container) is the implementation's business.

use std::future::Future;
use std::pin::Pin;

use mesh_sample_app::Summary;

pub mod kind;
pub mod local;
pub mod manifest;
pub mod spec;
pub mod sync;

pub use local::LocalCluster;
pub use spec::{Pod, PodPort, PodRef, PodSpec, SidecarProxy, TLS_MODE_LABEL};
pub use sync::ConfigSync;

/// The program every pod image has: the sample app and its client modes.
pub const SAMPLE_APP: &str = "mesh-sample-app";

/// What went wrong; every message names the object and says what to look at.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A command the cluster runs for itself (`ip`, `ss`, the control plane) failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// A pod could not be started, or is not there.
    #[error("pod {pod}: {detail}")]
    Pod { pod: String, detail: String },
    /// A config file could not be applied.
    #[error("config file {file}: {detail}")]
    Config { file: String, detail: String },
    /// The control plane did not start or answer.
    #[error("control plane: {0}")]
    ControlPlane(String),
    /// A client command in a pod ran but its output made no sense.
    #[error("{command} in pod {pod}: {detail}")]
    Client {
        pod: String,
        command: String,
        detail: String,
    },
}

/// What a command run in a pod left behind.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// The exit status; -1 when killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// A command started in a pod by [`Cluster::spawn`]. It owns its process, so the
/// cluster can be changed while it runs (load during a config change); dropping it
/// kills the command.
pub struct Running {
    pod: PodRef,
    argv: Vec<String>,
    output: Pin<Box<dyn Future<Output = Result<ExecOutput, ClusterError>> + Send>>,
}

impl Running {
    /// Wraps the future of a started command's output.
    pub fn new(
        pod: &PodRef,
        argv: &[&str],
        output: impl Future<Output = Result<ExecOutput, ClusterError>> + Send + 'static,
    ) -> Running {
        Running {
            pod: pod.clone(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            output: Box::pin(output),
        }
    }

    /// Waits for the command to finish.
    pub async fn output(self) -> Result<ExecOutput, ClusterError> {
        self.output.await
    }

    /// Waits for a client mode started with `--json` and parses its summary.
    pub async fn summary(self) -> Result<Summary, ClusterError> {
        let (pod, argv) = (self.pod.clone(), self.argv.clone());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        summary(&pod, &argv, self.output.await?)
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Running({} in {})", self.argv.join(" "), self.pod)
    }
}

/// A cluster of pods with a mesh control plane. Methods that change the cluster take
/// `&mut self`; a scenario is generic over `C: Cluster`.
pub trait Cluster: Send + Sync {
    /// Starts a pod: its network, its sidecar when `spec.sidecar` (redirect rules,
    /// then `mesh-proxy run`, ready before the app starts, as Istio's
    /// `holdApplicationUntilProxyStarts`), then its app; returns when every declared
    /// port listens. The pod is an endpoint of the Services that select its labels.
    fn deploy(&mut self, spec: PodSpec) -> impl Future<Output = Result<Pod, ClusterError>> + Send;

    /// Removes a pod from its Services' endpoints, waits until the proxies know, then
    /// stops it: its sidecar first (SIGTERM, which drains), then its app, as a
    /// Kubernetes pod with a `preStop` hook ends without failing requests.
    fn remove(&mut self, pod: &PodRef) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Applies a file of manifests (`kubectl apply -f`): v1 Services and the mesh CRDs.
    /// A Service without `clusterIP` is given one, as the API server would. Applying
    /// the same `file` again replaces what it held.
    fn apply(
        &mut self,
        file: &str,
        yaml: &str,
    ) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Deletes what `file` held (`kubectl delete -f`).
    fn delete(&mut self, file: &str) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Runs `argv` in the pod as its app's user (`kubectl exec`), so its connections
    /// take the same path through the sidecar as the app's. `argv[0]` may be
    /// [`SAMPLE_APP`].
    fn exec(
        &self,
        pod: &PodRef,
        argv: &[&str],
    ) -> impl Future<Output = Result<ExecOutput, ClusterError>> + Send;

    /// Starts `argv` in the pod as [`Cluster::exec`] does, without waiting for it.
    fn spawn(&self, pod: &PodRef, argv: &[&str]) -> Result<Running, ClusterError>;

    /// Stops the control plane; proxies keep serving the config they have.
    fn stop_control_plane(&mut self) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// Starts the control plane again on the same config; proxies reconnect by themselves.
    fn start_control_plane(&mut self) -> impl Future<Output = Result<(), ClusterError>> + Send;

    /// The body of the pod's sidecar admin endpoint (`/config_dump`, `/stats`, …).
    fn proxy_admin(
        &self,
        pod: &PodRef,
        path: &str,
    ) -> impl Future<Output = Result<String, ClusterError>> + Send;

    /// The body of the control plane's debug endpoint (`/debug/syncz`, …).
    fn control_plane_debug(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<String, ClusterError>> + Send;

    /// How many times longer a change takes on this cluster than on the local one
    /// (kubectl round trips, a kubelet starting and stopping pods): a scenario that runs
    /// load in the background while it changes the cluster multiplies the load's size
    /// by this, so that the load outlasts the change. 1 unless a cluster says otherwise.
    fn load_scale(&self) -> u64 {
        1
    }

    /// `mesh-sample-app request URL --json ARGS…` from inside `pod`: answers per
    /// workload version, status and call chain, and latency percentiles. `args` are
    /// the client's flags (`-n 100`, `-c 4`, `-H end-user:jason`, `--http2`).
    fn request(
        &self,
        pod: &PodRef,
        url: &str,
        args: &[&str],
    ) -> impl Future<Output = Result<Summary, ClusterError>> + Send {
        async move {
            let mut argv = vec![SAMPLE_APP, "request", url, "--json"];
            argv.extend_from_slice(args);
            summary(pod, &argv, self.exec(pod, &argv).await?)
        }
    }

    /// [`Cluster::request`] started in the background: load that keeps running while
    /// the scenario changes the cluster; [`Running::summary`] collects it.
    fn request_in_background(
        &self,
        pod: &PodRef,
        url: &str,
        args: &[&str],
    ) -> Result<Running, ClusterError> {
        let mut argv = vec![SAMPLE_APP, "request", url, "--json"];
        argv.extend_from_slice(args);
        self.spawn(pod, &argv)
    }

    /// `mesh-sample-app grpc TARGET --json ARGS…` from inside `pod`.
    fn grpc(
        &self,
        pod: &PodRef,
        target: &str,
        args: &[&str],
    ) -> impl Future<Output = Result<Summary, ClusterError>> + Send {
        async move {
            let mut argv = vec![SAMPLE_APP, "grpc", target, "--json"];
            argv.extend_from_slice(args);
            summary(pod, &argv, self.exec(pod, &argv).await?)
        }
    }

    /// Talks the sample app's server-first TCP protocol from inside `pod`: returns the
    /// banner (`HELLO <name> <version>`) followed by the echo of each of `lines`.
    fn tcp(
        &self,
        pod: &PodRef,
        target: &str,
        lines: &[&str],
    ) -> impl Future<Output = Result<Vec<String>, ClusterError>> + Send {
        async move {
            let mut argv = vec![SAMPLE_APP, "tcp", target];
            for line in lines {
                argv.extend(["--send", line]);
            }
            let out = self.exec(pod, &argv).await?;
            if !out.success() {
                return Err(client_error(pod, &argv, &out));
            }
            Ok(out.stdout.lines().map(str::to_string).collect())
        }
    }
}

/// Parses a client's `--json` summary; its stderr explains a missing one.
fn summary(pod: &PodRef, argv: &[&str], out: ExecOutput) -> Result<Summary, ClusterError> {
    serde_json::from_str(out.stdout.trim()).map_err(|_| client_error(pod, argv, &out))
}

fn client_error(pod: &PodRef, argv: &[&str], out: &ExecOutput) -> ClusterError {
    ClusterError::Client {
        pod: pod.to_string(),
        command: argv.join(" "),
        detail: format!(
            "exit status {}; stdout: {}; stderr: {}",
            out.status,
            out.stdout.trim(),
            out.stderr.trim()
        ),
    }
}
