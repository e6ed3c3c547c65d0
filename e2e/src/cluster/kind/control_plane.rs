//! The control plane as the kind cluster sees it: a Deployment to scale down and up,
//! and a Service whose monitoring port serves the debug endpoint, reached through the
//! API server's service proxy (no port-forward to keep alive).

use std::time::{Duration, Instant};

use super::kubectl::Kubectl;
use crate::cluster::ClusterError;

/// How long the control plane may take to stop, or to start and answer.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// The control plane's Deployment and Service (the same name, as the chart makes them).
#[derive(Debug, Clone)]
pub struct ControlPlane {
    pub kubectl: Kubectl,
    pub namespace: String,
    pub name: String,
    /// The Service port of the debug endpoint (`http-monitoring`, 15014).
    pub monitoring_port: String,
}

impl ControlPlane {
    fn deployment(&self) -> String {
        format!("deployment/{}", self.name)
    }

    /// The Deployment's `spec.replicas`.
    pub async fn replicas(&self) -> Result<u32, ClusterError> {
        let deployment = self.deployment();
        let args = [
            "get",
            &deployment,
            "-n",
            &self.namespace,
            "-o",
            "jsonpath={.spec.replicas}",
        ];
        let replicas = self.kubectl.run(&args, None).await.map_err(|e| {
            ClusterError::ControlPlane(format!(
                "{e}; is the mesh-control chart installed (`cargo xtask e2e kind` does it)?"
            ))
        })?;
        Ok(replicas.trim().parse().unwrap_or(0))
    }

    /// Scales to `replicas` and waits: for the rollout when up, until no pod is left
    /// when down (a terminating one still serves).
    pub async fn scale(&self, replicas: u32) -> Result<(), ClusterError> {
        let deployment = self.deployment();
        let ns = self.namespace.as_str();
        let count = format!("--replicas={replicas}");
        self.kubectl
            .run(&["scale", &deployment, "-n", ns, &count], None)
            .await?;
        if replicas > 0 {
            let timeout = format!("--timeout={}s", TIMEOUT.as_secs());
            let args = ["rollout", "status", &deployment, "-n", ns, &timeout];
            self.kubectl
                .run_for(&args, None, TIMEOUT + Duration::from_secs(10))
                .await?;
            return Ok(());
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let args = [
                "get",
                &deployment,
                "-n",
                ns,
                "-o",
                "jsonpath={.status.replicas}",
            ];
            let left = self.kubectl.run(&args, None).await?;
            if matches!(left.trim(), "" | "0") {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::ControlPlane(format!(
                    "{deployment} still has {} pods {TIMEOUT:?} after scaling to 0",
                    left.trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Scales to `replicas` without waiting, outside an async runtime (for `Drop`).
    pub fn scale_blocking(&self, replicas: u32) -> Result<String, String> {
        let deployment = self.deployment();
        let count = format!("--replicas={replicas}");
        self.kubectl
            .run_blocking(&["scale", &deployment, "-n", &self.namespace, &count])
    }

    /// The body of the debug endpoint at `path`.
    pub async fn debug(&self, path: &str) -> Result<String, ClusterError> {
        let raw = self.debug_url(path);
        self.kubectl
            .run(&["get", "--raw", &raw], None)
            .await
            .map_err(|e| ClusterError::ControlPlane(format!("{path}: {e}")))
    }

    /// The API server's proxy path to the debug endpoint's `path`.
    pub fn debug_url(&self, path: &str) -> String {
        format!(
            "/api/v1/namespaces/{}/services/{}:{}/proxy{path}",
            self.namespace, self.name, self.monitoring_port
        )
    }

    /// `kubectl logs` arguments for every container of every replica.
    pub fn logs_args(&self) -> Vec<String> {
        [
            "logs",
            &self.deployment(),
            "-n",
            &self.namespace,
            "--all-containers",
            "--prefix",
            "--timestamps",
        ]
        .map(String::from)
        .to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_endpoint_is_reached_through_the_service_proxy() {
        let control_plane = ControlPlane {
            kubectl: Kubectl::new("kubectl", None, None),
            namespace: "mesh-system".to_string(),
            name: "mesh-control".to_string(),
            monitoring_port: "http-monitoring".to_string(),
        };
        assert_eq!(
            control_plane.debug_url("/debug/syncz"),
            "/api/v1/namespaces/mesh-system/services/mesh-control:http-monitoring/proxy/debug/syncz"
        );
    }
}
