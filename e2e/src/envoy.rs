//! A real Envoy process, bootstrapped by `meshctl bootstrap envoy`.

use std::collections::BTreeMap;
use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::control_plane::log_tail;
use crate::http::{Call, HttpClient};
use crate::{eventually, tools};

/// What `meshctl bootstrap envoy` is told about the workload.
#[derive(Debug, Clone)]
pub struct EnvoyWorkload {
    /// `pod.namespace`.
    pub workload: String,
    pub ip: String,
    pub labels: Vec<(String, String)>,
    pub service_account: String,
    pub delta: bool,
    /// Test entry points added to the bootstrap (see [`EntryListener`]).
    pub entry_listeners: Vec<EntryListener>,
}

/// A static listener the harness adds to the bootstrap so that a test can reach a
/// route config of the control plane without iptables: bound on `addr`, it runs the
/// same HTTP filters as the control plane's outbound listeners (fault, CORS, router)
/// and takes its routes over RDS by name (`"8080"`), so routes, clusters and endpoints
/// are exactly the control plane's.
#[derive(Debug, Clone)]
pub struct EntryListener {
    pub addr: SocketAddr,
    pub route_config: String,
}

impl EntryListener {
    fn to_json(&self) -> serde_json::Value {
        let typed = |t: &str| serde_json::json!({ "@type": format!("type.googleapis.com/{t}") });
        serde_json::json!({
            "name": format!("conformance_entry_{}", self.addr),
            "address": { "socket_address": {
                "address": self.addr.ip().to_string(),
                "port_value": self.addr.port(),
            }},
            "filter_chains": [{ "filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": format!("conformance_entry_{}", self.route_config),
                    "codec_type": "AUTO",
                    "use_remote_address": false,
                    "normalize_path": true,
                    "rds": {
                        "config_source": { "ads": {}, "resource_api_version": "V3" },
                        "route_config_name": self.route_config,
                    },
                    "http_filters": [
                        { "name": "envoy.filters.http.fault",
                          "typed_config": typed("envoy.extensions.filters.http.fault.v3.HTTPFault") },
                        { "name": "envoy.filters.http.cors",
                          "typed_config": typed("envoy.extensions.filters.http.cors.v3.Cors") },
                        { "name": "envoy.filters.http.router",
                          "typed_config": typed("envoy.extensions.filters.http.router.v3.Router") },
                    ],
                },
            }]}],
        })
    }
}

/// A running Envoy; killed when dropped. When a test panics, the tail of its log is printed.
#[derive(Debug)]
pub struct EnvoyProcess {
    child: Child,
    dir: tempfile::TempDir,
    admin: SocketAddr,
    node_id: String,
    http: HttpClient,
}

impl EnvoyProcess {
    /// Bootstraps Envoy for `workload` against the control plane at `xds`, starts it, and
    /// waits until its admin interface answers.
    pub async fn start(envoy: &Path, workload: &EnvoyWorkload, xds: SocketAddr) -> EnvoyProcess {
        let dir = tempfile::tempdir().expect("temp dir for envoy");
        let admin_port = free_port();
        let labels = workload
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut bootstrap = Command::new(tools::meshctl());
        bootstrap
            .args(["bootstrap", "envoy", "--workload", &workload.workload])
            .args(["--ip", &workload.ip])
            .args(["--xds-address", &xds.to_string()])
            .args(["--admin-port", &admin_port.to_string()])
            .args(["--labels", &labels])
            .args(["--service-account", &workload.service_account]);
        if workload.delta {
            bootstrap.arg("--xds-delta");
        }
        let out = bootstrap.output().expect("run meshctl bootstrap envoy");
        assert!(
            out.status.success(),
            "meshctl bootstrap envoy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut bootstrap: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the bootstrap is JSON");
        if !workload.entry_listeners.is_empty() {
            bootstrap["static_resources"]["listeners"] = workload
                .entry_listeners
                .iter()
                .map(EntryListener::to_json)
                .collect();
        }
        let config = dir.path().join("envoy.json");
        fs::write(&config, bootstrap.to_string()).expect("write the bootstrap");
        let node_id = bootstrap["node"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();

        let log = dir.path().join("envoy.log");
        let stdout = fs::File::create(&log).expect("create the envoy log");
        let stderr = stdout.try_clone().expect("clone the log file");
        let child = Command::new(envoy)
            .arg("-c")
            .arg(&config)
            .args(["--base-id", &unique_base_id().to_string()])
            .args(["--disable-hot-restart", "--concurrency", "1"])
            .args(["--log-level", "warning", "--drain-time-s", "1"])
            .args([
                "--component-log-level",
                "upstream:info,config:info,router:info",
            ])
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("start envoy");
        let mut proc = EnvoyProcess {
            child,
            dir,
            admin: SocketAddr::from(([127, 0, 0, 1], admin_port)),
            node_id,
            http: HttpClient::new(),
        };
        let (http, admin, child) = (proc.http.clone(), proc.admin, &mut proc.child);
        crate::http::wait_admin_up("envoy", child, &http, admin)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", proc.log_tail(60)));
        proc
    }

    /// Waits (up to 20 s) until Envoy is LIVE: its first clusters and listeners from
    /// the control plane are in place and its listeners accept connections.
    pub async fn wait_live(&self) {
        eventually("envoy to be LIVE", Duration::from_secs(20), || async {
            let reply = self
                .http
                .send(self.admin, &Call::get("localhost", "/ready"))
                .await?;
            if reply.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", reply.status, reply.body.trim()))
            }
        })
        .await;
    }

    /// The node id Envoy sends (`sidecar~ip~pod.ns~ns.svc.cluster.local`).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// The body of an admin endpoint (`/config_dump`, `/clusters`, …).
    pub async fn admin(&self, path: &str) -> Result<String, String> {
        let reply = self
            .http
            .send(self.admin, &Call::get("localhost", path))
            .await?;
        Ok(reply.body)
    }

    /// Every counter and gauge, from `/stats` (`name: value` lines).
    pub async fn stats(&self) -> Result<BTreeMap<String, String>, String> {
        let text = self.admin("/stats").await?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                Some((name.to_string(), value.to_string()))
            })
            .collect())
    }

    /// One numeric stat, 0 when absent.
    pub async fn stat(&self, name: &str) -> Result<u64, String> {
        Ok(self
            .stats()
            .await?
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("envoy.log")
    }

    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path(), lines)
    }
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- envoy {} log (tail) ---\n{}",
                self.node_id,
                self.log_tail(60)
            );
        }
    }
}

/// A port free on 127.0.0.1 right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// Distinct for every Envoy on this machine: the process id and a counter.
fn unique_base_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    (std::process::id() % 100_000) * 100 + NEXT.fetch_add(1, Ordering::SeqCst) % 100
}
