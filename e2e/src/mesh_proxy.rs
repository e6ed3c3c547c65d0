//! A real `mesh-proxy run` process, the sidecar under test in the differential
//! conformance suite (`tests/mesh_proxy_conformance.rs`).

use std::fs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::control_plane::log_tail;
use crate::http::{Call, HttpClient};
use crate::{eventually, tools};

/// Who the proxy is: what `mesh-proxy run` is told.
#[derive(Debug, Clone)]
pub struct MeshProxyWorkload {
    /// `pod.namespace`.
    pub workload: String,
    pub ip: String,
    pub labels: Vec<(String, String)>,
    pub service_account: String,
}

/// A running mesh-proxy; killed when dropped, its log printed when a test panics.
#[derive(Debug)]
pub struct MeshProxyProcess {
    child: Child,
    dir: tempfile::TempDir,
    admin: SocketAddr,
    http: HttpClient,
}

impl MeshProxyProcess {
    /// Starts `mesh-proxy run` for `workload` against the control plane at `xds` and
    /// waits until its admin interface answers.
    pub async fn start(workload: &MeshProxyWorkload, xds: SocketAddr) -> MeshProxyProcess {
        let dir = tempfile::tempdir().expect("temp dir for mesh-proxy");
        // On the workload's own address (each test's subnet is its own): a port picked
        // by binding and releasing could be taken by another test before the proxy
        // binds it (seen in CI as "Address already in use").
        let ip: std::net::IpAddr = workload.ip.parse().expect("the workload's IP");
        let admin = SocketAddr::new(ip, 15000);
        let health = SocketAddr::new(ip, 15021);
        let labels = workload
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let log = fs::File::create(dir.path().join("mesh-proxy.log")).expect("create the log");
        let stderr = log.try_clone().expect("clone the log file");
        let child = Command::new(tools::mesh_proxy())
            .arg("run")
            .args(["--xds-address", &xds.to_string()])
            .args(["--workload", &workload.workload])
            .args(["--ip", &workload.ip])
            .args(["--labels", &labels])
            .args(["--service-account", &workload.service_account])
            .args(["--admin-address", &admin.to_string()])
            .args(["--health-address", &health.to_string()])
            .env("MESH_LOG", "info,access=warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .expect("start mesh-proxy");
        let mut proc = MeshProxyProcess {
            child,
            dir,
            admin,
            http: HttpClient::new(),
        };
        let (http, child) = (proc.http.clone(), &mut proc.child);
        crate::http::wait_admin_up("mesh-proxy", child, &http, admin)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", proc.log_tail(60)));
        proc
    }

    /// Waits (up to 20 s) for the first complete xDS sync (`/ready` answers 200).
    pub async fn wait_ready(&self) {
        eventually(
            "mesh-proxy to be ready",
            Duration::from_secs(20),
            || async {
                let reply = self
                    .http
                    .send(self.admin, &Call::get("localhost", "/ready"))
                    .await?;
                if reply.status == 200 {
                    Ok(())
                } else {
                    Err(format!("{} {}", reply.status, reply.body.trim()))
                }
            },
        )
        .await;
    }

    /// The body of an admin endpoint (`/config_dump`, `/stats`, …).
    pub async fn admin(&self, path: &str) -> Result<String, String> {
        Ok(self
            .http
            .send(self.admin, &Call::get("localhost", path))
            .await?
            .body)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("mesh-proxy.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }
}

impl Drop for MeshProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mesh-proxy log (tail) ---\n{}", self.log_tail(60));
        }
    }
}
