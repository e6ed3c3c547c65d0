//! Named network namespaces and the `ip` commands that build a pod's network.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::cluster::ClusterError;

/// Where `ip netns exec` finds the files it bind-mounts over `/etc` for a namespace
/// (`hosts`, `resolv.conf`).
const ETC_NETNS: &str = "/etc/netns";

/// A named network namespace (`ip netns add`) and its `/etc/netns/<name>` directory;
/// both are removed, and whatever still runs in the namespace is killed, on drop.
#[derive(Debug)]
pub(super) struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace with its loopback up.
    pub(super) fn create(name: &str) -> Result<Netns, ClusterError> {
        run("ip", &["netns", "add", name])?;
        let netns = Netns {
            name: name.to_string(),
        };
        netns.ip(&["link", "set", "lo", "up"])?;
        fs::create_dir_all(netns.etc_dir()).map_err(|e| ClusterError::Command {
            command: format!("mkdir {}", netns.etc_dir().display()),
            detail: e.to_string(),
        })?;
        Ok(netns)
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// `/etc/netns/<name>`: files here replace their `/etc` namesakes for every
    /// process started with `ip netns exec`.
    pub(super) fn etc_dir(&self) -> PathBuf {
        etc_dir(&self.name)
    }

    /// `ip -n <name> ARGS`.
    pub(super) fn ip(&self, args: &[&str]) -> Result<String, ClusterError> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs a short command inside the namespace as root.
    pub(super) fn run(&self, argv: &[&str]) -> Result<String, ClusterError> {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(argv);
        run("ip", &all)
    }

    /// The TCP ports something listens on in the namespace.
    pub(super) fn listening_ports(&self) -> Result<Vec<u16>, ClusterError> {
        let out = self.run(&["ss", "-Hltn"])?;
        Ok(out
            .lines()
            .filter_map(|line| line.split_whitespace().nth(3))
            .filter_map(|local| local.rsplit_once(':')?.1.parse().ok())
            .collect())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

/// `/etc/netns/<name>`.
pub(super) fn etc_dir(name: &str) -> PathBuf {
    PathBuf::from(ETC_NETNS).join(name)
}

/// Kills what runs in namespace `name`, deletes it and its `/etc/netns` directory;
/// best effort, for drops and the sweep of stale namespaces.
pub(super) fn delete(name: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", name]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).output();
    let _ = fs::remove_dir_all(etc_dir(name));
}

/// The names of all network namespaces.
pub(super) fn list() -> Result<Vec<String>, ClusterError> {
    let out = run("ip", &["netns", "list"])?;
    // Lines look like `name (id: 3)`.
    Ok(out
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Runs a command to completion; its stdout, or an error with its stderr.
pub(super) fn run(program: &str, args: &[&str]) -> Result<String, ClusterError> {
    let command = || format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| ClusterError::Command {
            command: command(),
            detail: format!("cannot run {program}: {e}"),
        })?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            command: command(),
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
