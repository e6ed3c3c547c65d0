//! The real `mesh-control` binary on a temporary config directory.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::http::{Call, HttpClient};
use crate::tools;

/// A running `mesh-control`; killed when dropped. When a test panics, the tail of its
/// log is printed.
#[derive(Debug)]
pub struct ControlPlane {
    child: Child,
    config: tempfile::TempDir,
    log: PathBuf,
    xds: SocketAddr,
    debug: SocketAddr,
    http: HttpClient,
}

impl ControlPlane {
    /// Starts `mesh-control` on `ip` (xDS on 15010, debug on 15014) with `config_dir`,
    /// which the caller may already have filled, and waits until its debug endpoint answers.
    pub async fn start(ip: &str, config: tempfile::TempDir) -> ControlPlane {
        let xds: SocketAddr = parse_addr(ip, 15010);
        let debug: SocketAddr = parse_addr(ip, 15014);
        let log = config.path().join(".mesh-control.log");
        let child = spawn(config.path(), xds, debug, &log);
        let mut cp = ControlPlane {
            child,
            config,
            log,
            xds,
            debug,
            http: HttpClient::new(),
        };
        cp.wait_debug_endpoint().await;
        cp
    }

    /// Stops the control plane (its proxies lose their xDS stream); [`Self::restart`]
    /// brings it back on the same addresses and config directory.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the control plane again after [`Self::stop`] (its log continues).
    pub async fn restart(&mut self) {
        self.child = spawn(self.config.path(), self.xds, self.debug, &self.log);
        self.wait_debug_endpoint().await;
    }

    async fn wait_debug_endpoint(&mut self) {
        let (debug, http) = (self.debug, self.http.clone());
        crate::http::wait_http_up(
            "mesh-control",
            "debug endpoint",
            &mut self.child,
            &http,
            debug,
            "/debug/syncz",
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", log_tail(&self.log, 60)));
    }

    pub fn xds_addr(&self) -> SocketAddr {
        self.xds
    }

    pub fn debug_addr(&self) -> SocketAddr {
        self.debug
    }

    pub fn config_dir(&self) -> &Path {
        self.config.path()
    }

    /// Writes (or replaces) a config file atomically, so the watcher never reads half of it.
    pub fn apply(&self, file: &str, yaml: &str) {
        write_config(self.config.path(), file, yaml);
    }

    /// Deletes a config file, which removes its objects.
    pub fn delete(&self, file: &str) {
        fs::remove_file(self.config.path().join(file)).expect("delete the config file");
    }

    /// `GET /debug/syncz`, parsed.
    pub async fn syncz(&self) -> Result<Value, String> {
        self.debug_json("/debug/syncz").await
    }

    /// A debug endpoint's JSON.
    pub async fn debug_json(&self, path: &str) -> Result<Value, String> {
        let reply = self
            .http
            .send(self.debug, &Call::get("localhost", path))
            .await?;
        if reply.status != 200 {
            return Err(format!("{path}: {} {}", reply.status, reply.body));
        }
        serde_json::from_str(&reply.body).map_err(|e| format!("{path}: not JSON: {e}"))
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- mesh-control log (tail) ---\n{}",
                log_tail(&self.log, 60)
            );
        }
    }
}

/// Starts `mesh-control` on `config_dir`, appending to `log`.
fn spawn(config_dir: &Path, xds: SocketAddr, debug: SocketAddr, log: &Path) -> Child {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the control plane log");
    let err = out.try_clone().expect("clone the log file");
    Command::new(tools::mesh_control())
        .arg("--config-dir")
        .arg(config_dir)
        .args(["--xds-address", &xds.to_string()])
        // 15012 (xDS and CA over TLS) on the same IP, so that tests run side by side;
        // the CA in a hidden directory the file source does not read.
        .args([
            "--xds-tls-address",
            &SocketAddr::new(xds.ip(), 15012).to_string(),
        ])
        .arg("--ca-dir")
        .arg(config_dir.join(".ca"))
        .args(["--debug-address", &debug.to_string()])
        .args(["--log", "info"])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start mesh-control")
}

/// Writes `file` under `dir` through a hidden temporary file (hidden files are not
/// read), with the YAML's common indentation removed (see [`dedent`]).
pub fn write_config(dir: &Path, file: &str, yaml: &str) {
    let tmp = dir.join(format!(".{file}.tmp"));
    fs::write(&tmp, dedent(yaml)).expect("write the config file");
    fs::rename(&tmp, dir.join(file)).expect("move the config file in place");
}

/// Removes the indentation common to all non-blank lines, so that YAML can be written
/// indented inside a test's code.
pub fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for line in text.lines().skip_while(|l| l.trim().is_empty()) {
        out.push_str(line.get(indent..).unwrap_or("").trim_end());
        out.push('\n');
    }
    out
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn parse_addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("bad address {ip}:{port}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_removes_the_common_indentation_only() {
        let yaml = "\n    kind: Service\n    spec:\n      ports: []\n\n";
        assert_eq!(dedent(yaml), "kind: Service\nspec:\n  ports: []\n\n");
    }
}
