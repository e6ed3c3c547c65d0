//! [`KindCluster`]: the [`Cluster`] trait on a Kubernetes cluster with the mesh's charts
//! installed (kind, in GitHub Actions: `cargo xtask e2e kind`), driven with `kubectl`.
//!
//! A pod is a Pod in a namespace labelled for injection, so the mesh's webhook gives it
//! its sidecar; config files are applied as they are (Services and the mesh's CRDs);
//! the sidecar's admin is read from inside the pod, the control plane's debug endpoint
//! through the API server's service proxy. The translation from a [`PodSpec`] to a
//! Pod is [`manifests`], unit-tested without a cluster.
//!
//! Everything the suite creates carries the label `mesh.dev/e2e=kind`: starting a
//! cluster sweeps what an earlier run left, so each scenario starts fresh, as on the
//! local cluster. Scenarios share the namespace `mesh`: run them one at a time
//! (`--test-threads=1`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Cluster, ClusterError, ExecOutput, Pod, PodRef, PodSpec, Running, SAMPLE_APP, sync};
use crate::control_plane::dedent;

mod config;
pub mod control_plane;
pub mod kubectl;
pub mod manifests;
pub mod pod_status;
pub mod sweep;

pub use config::{KindConfig, SELECT_ENV};
pub use control_plane::ControlPlane;
pub use kubectl::Kubectl;
use manifests::{APP_CONTAINER, ObjectKey};

/// How long a pod may take to be scheduled, injected, started and ready.
const POD_READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a removed pod may take to go (its preStop, then the sidecar's drain).
const POD_DELETE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a command run in a pod may take: long enough for a background load sized
/// by [`Cluster::load_scale`].
const EXEC_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a removed pod's endpoints may take to leave every proxy's config.
const ENDPOINT_REMOVAL_TIMEOUT: Duration = Duration::from_secs(15);
/// The sidecar's admin port (Istio's 15000, on the pod's loopback, which the redirect
/// rules leave alone).
const PROXY_ADMIN: &str = "http://127.0.0.1:15000";

/// A Kubernetes cluster with the mesh installed, as a [`Cluster`]. Dropping it starts
/// removing what it deployed (and, during a panic, first saves every pod's and the
/// control plane's logs).
#[derive(Debug)]
pub struct KindCluster {
    config: KindConfig,
    pods: BTreeMap<PodRef, Pod>,
    /// What each applied config file holds.
    files: BTreeMap<String, Vec<ObjectKey>>,
    /// Namespaces known to exist (created by the suite or already there).
    namespaces: BTreeSet<String>,
    service_accounts: BTreeSet<(String, String)>,
    /// The control plane's replicas while [`Cluster::stop_control_plane`] has it at 0.
    stopped_replicas: Option<u32>,
}

impl KindCluster {
    /// Sweeps what earlier runs left, makes sure the control plane runs and answers,
    /// and returns an empty cluster.
    pub async fn start(config: KindConfig) -> Result<KindCluster, ClusterError> {
        sweep::sweep(&config.kubectl).await?;
        if config.control_plane.replicas().await? == 0 {
            // A run killed while the control plane was stopped.
            config.control_plane.scale(1).await?;
        }
        let cluster = KindCluster {
            config,
            pods: BTreeMap::new(),
            files: BTreeMap::new(),
            namespaces: BTreeSet::new(),
            service_accounts: BTreeSet::new(),
            stopped_replicas: None,
        };
        cluster.wait_control_plane_answers().await?;
        Ok(cluster)
    }

    pub fn config(&self) -> &KindConfig {
        &self.config
    }

    /// Saves every pod's logs and description, the control plane's logs and the
    /// cluster's events under the logs directory, in a directory named after the
    /// running test.
    pub fn save_logs(&self) {
        let test = std::thread::current()
            .name()
            .unwrap_or("kind")
            .replace("::", ".");
        sweep::save_logs(
            &self.config.kubectl,
            self.pods.keys(),
            self.config.control_plane.logs_args(),
            &self.config.logs.join(test),
        );
    }

    async fn ensure_namespace(&mut self, namespace: &str) -> Result<(), ClusterError> {
        if self.namespaces.contains(namespace) {
            return Ok(());
        }
        let kubectl = &self.config.kubectl;
        let get = ["get", "namespace", namespace, "-o", "name"];
        let exists = kubectl
            .output(&get, None, kubectl::DEFAULT_TIMEOUT)
            .await?
            .success();
        if !exists {
            let manifest = manifests::namespace(namespace).to_string();
            kubectl.run(&["apply", "-f", "-"], Some(&manifest)).await?;
        }
        self.namespaces.insert(namespace.to_string());
        Ok(())
    }

    async fn ensure_service_account(
        &mut self,
        name: &str,
        namespace: &str,
    ) -> Result<(), ClusterError> {
        let key = (namespace.to_string(), name.to_string());
        if name == "default" || self.service_accounts.contains(&key) {
            return Ok(());
        }
        let manifest = manifests::service_account(name, namespace).to_string();
        self.config
            .kubectl
            .run(&["apply", "-f", "-"], Some(&manifest))
            .await?;
        self.service_accounts.insert(key);
        Ok(())
    }

    /// Waits until `pod` is Ready; on failure, deletes it and says why with its
    /// description and logs.
    async fn wait_ready(&self, pod: &PodRef) -> Result<Value, ClusterError> {
        let kubectl = &self.config.kubectl;
        let target = format!("pod/{}", pod.name);
        let timeout = format!("--timeout={}s", POD_READY_TIMEOUT.as_secs());
        let wait = [
            "wait",
            "--for=condition=Ready",
            &target,
            "-n",
            &pod.namespace,
            &timeout,
        ];
        let patience = POD_READY_TIMEOUT + Duration::from_secs(10);
        let failed = match kubectl.output(&wait, None, patience).await {
            Ok(out) if out.success() => None,
            Ok(out) => Some(out.stderr),
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = failed {
            let describe = sweep::describe(kubectl, pod).await;
            let delete = ["delete", &target, "-n", &pod.namespace, "--wait=false"];
            let _ = kubectl
                .output(&delete, None, kubectl::DEFAULT_TIMEOUT)
                .await;
            return Err(pod_error(
                pod,
                format!(
                    "not ready after {POD_READY_TIMEOUT:?}: {}\n{describe}",
                    why.trim()
                ),
            ));
        }
        let get = ["get", "pod", &pod.name, "-n", &pod.namespace, "-o", "json"];
        let json = kubectl.run(&get, None).await?;
        serde_json::from_str(&json)
            .map_err(|e| pod_error(pod, format!("kubectl get pod -o json: {e}")))
    }

    /// Polls the debug endpoint until it answers (a Service's endpoints follow a new
    /// pod's readiness with a delay).
    async fn wait_control_plane_answers(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + control_plane::TIMEOUT;
        loop {
            let last = match sync::config_version(self).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(ClusterError::ControlPlane(format!(
                    "the debug endpoint does not answer after {:?}: {last}",
                    control_plane::TIMEOUT
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn exec_args<'a>(&self, pod: &'a PodRef, argv: &[&'a str]) -> Vec<&'a str> {
        let (name, ns) = (pod.name.as_str(), pod.namespace.as_str());
        let mut args = vec!["exec", name, "-n", ns, "-c", APP_CONTAINER, "--"];
        args.extend_from_slice(argv);
        args
    }
}

impl Cluster for KindCluster {
    async fn deploy(&mut self, spec: PodSpec) -> Result<Pod, ClusterError> {
        let id = spec.pod.clone();
        if self.pods.contains_key(&id) {
            return Err(pod_error(&id, "already deployed; remove it first".into()));
        }
        let manifest = manifests::pod(&spec, &self.config.sample_image)?;
        self.ensure_namespace(&id.namespace).await?;
        self.ensure_service_account(&spec.service_account, &id.namespace)
            .await?;
        self.config
            .kubectl
            .run(&["create", "-f", "-"], Some(&manifest.to_string()))
            .await?;
        let object = self.wait_ready(&id).await?;
        if spec.sidecar && !pod_status::has_sidecar(&object) {
            // Not a pod of this cluster: gone, as a pod that did not start.
            let target = format!("pod/{}", id.name);
            let delete = ["delete", &target, "-n", &id.namespace, "--wait=false"];
            let kubectl = &self.config.kubectl;
            let _ = kubectl
                .output(&delete, None, kubectl::DEFAULT_TIMEOUT)
                .await;
            return Err(pod_error(
                &id,
                format!(
                    "ready without a sidecar (containers: {}): is namespace {} labelled \
                     mesh.dev/inject=enabled and the injection webhook installed?",
                    pod_status::container_names(&object).join(", "),
                    id.namespace
                ),
            ));
        }
        let ip = pod_status::pod_ip(&object)
            .ok_or_else(|| pod_error(&id, "ready without status.podIP".into()))?;
        let pod = Pod { id: id.clone(), ip };
        self.pods.insert(id, pod.clone());
        Ok(pod)
    }

    async fn remove(&mut self, pod: &PodRef) -> Result<(), ClusterError> {
        if !self.pods.contains_key(pod) {
            return Err(pod_error(pod, "not deployed in this cluster".into()));
        }
        // Kubernetes takes the endpoints away and runs the preStop hook (the app keeps
        // serving) at once; wait until the proxies know before the pod is gone.
        let before = match self.stopped_replicas {
            None => Some(sync::config_version(self).await?),
            Some(_) => None,
        };
        let kubectl = &self.config.kubectl;
        let target = format!("pod/{}", pod.name);
        let ns = pod.namespace.as_str();
        kubectl
            .run(&["delete", &target, "-n", ns, "--wait=false"], None)
            .await?;
        if let Some(before) = before {
            // A proxy that is slow or NACKs does not keep the pod alive: go on.
            let _ = sync::wait_synced(self, before, ENDPOINT_REMOVAL_TIMEOUT).await;
        }
        let timeout = format!("--timeout={}s", POD_DELETE_TIMEOUT.as_secs());
        let wait = ["wait", "--for=delete", &target, "-n", ns, &timeout];
        kubectl
            .run_for(&wait, None, POD_DELETE_TIMEOUT + Duration::from_secs(10))
            .await?;
        self.pods.remove(pod);
        Ok(())
    }

    async fn apply(&mut self, file: &str, yaml: &str) -> Result<(), ClusterError> {
        let documents = manifests::documents(file, &dedent(yaml))?;
        let keys = manifests::object_keys(file, &documents)?;
        for namespace in manifests::namespaces_of(&keys) {
            self.ensure_namespace(&namespace).await?;
        }
        let list = manifests::labelled_list(&documents).to_string();
        self.config
            .kubectl
            .run(&["apply", "-f", "-"], Some(&list))
            .await
            .map_err(|e| ClusterError::Config {
                file: file.to_string(),
                detail: e.to_string(),
            })?;
        let previous = self
            .files
            .insert(file.to_string(), keys.clone())
            .unwrap_or_default();
        sweep::delete(&self.config.kubectl, &manifests::removed(&previous, &keys)).await
    }

    async fn delete(&mut self, file: &str) -> Result<(), ClusterError> {
        let Some(keys) = self.files.remove(file) else {
            return Err(ClusterError::Config {
                file: file.to_string(),
                detail: "not applied in this cluster".to_string(),
            });
        };
        sweep::delete(&self.config.kubectl, &keys).await
    }

    async fn exec(&self, pod: &PodRef, argv: &[&str]) -> Result<ExecOutput, ClusterError> {
        let args = self.exec_args(pod, argv);
        self.config.kubectl.output(&args, None, EXEC_TIMEOUT).await
    }

    fn spawn(&self, pod: &PodRef, argv: &[&str]) -> Result<Running, ClusterError> {
        let args = self.exec_args(pod, argv);
        let output = self.config.kubectl.start(&args, None, EXEC_TIMEOUT)?;
        Ok(Running::new(pod, argv, output))
    }

    async fn stop_control_plane(&mut self) -> Result<(), ClusterError> {
        if self.stopped_replicas.is_some() {
            return Ok(());
        }
        let replicas = self.config.control_plane.replicas().await?;
        self.config.control_plane.scale(0).await?;
        self.stopped_replicas = Some(replicas.max(1));
        Ok(())
    }

    async fn start_control_plane(&mut self) -> Result<(), ClusterError> {
        let Some(replicas) = self.stopped_replicas else {
            return Ok(());
        };
        self.config.control_plane.scale(replicas).await?;
        self.stopped_replicas = None;
        self.wait_control_plane_answers().await
    }

    async fn proxy_admin(&self, pod: &PodRef, path: &str) -> Result<String, ClusterError> {
        let url = format!("{PROXY_ADMIN}{path}");
        let out = self.exec(pod, &[SAMPLE_APP, "get", &url]).await?;
        if !out.success() {
            let detail = format!("sidecar admin {path}: {}", out.stderr.trim());
            return Err(pod_error(pod, detail));
        }
        Ok(out.stdout)
    }

    async fn control_plane_debug(&self, path: &str) -> Result<String, ClusterError> {
        self.config.control_plane.debug(path).await
    }

    fn load_scale(&self) -> u64 {
        self.config.load_scale
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.save_logs();
        }
        if let Some(replicas) = self.stopped_replicas
            && let Err(e) = self.config.control_plane.scale_blocking(replicas)
        {
            eprintln!("kind: could not start the control plane again: {e}");
        }
        let keys: Vec<ObjectKey> = self.files.values().flatten().cloned().collect();
        sweep::delete_blocking(&self.config.kubectl, &keys);
    }
}

fn pod_error(pod: &PodRef, detail: String) -> ClusterError {
    ClusterError::Pod {
        pod: pod.to_string(),
        detail,
    }
}
