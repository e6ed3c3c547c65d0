//! The bench's network: two pods (client, server) and a "node" namespace with the
//! bridge and the control plane, all named `mpb-…` and removed on drop, on panic and
//! at the next start. Nothing is added to the root namespace, so deleting the three
//! namespaces removes every interface, rule and process of the bench.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Every namespace of the bench starts with this.
pub(crate) const PREFIX: &str = "mpb-";
/// The node: bridge `br0` and mesh-control.
pub(crate) const NODE_IP: &str = "10.211.0.1";
pub(crate) const CLIENT_IP: &str = "10.211.0.10";
pub(crate) const SERVER_IP: &str = "10.211.0.20";
/// The uid the proxies run as, which `mesh-proxy redirect` exempts (Istio's 1337).
pub(crate) const PROXY_UID: &str = "1337";

/// A named network namespace; on drop whatever runs in it is killed and it is deleted.
#[derive(Debug)]
pub(crate) struct Netns {
    name: String,
}

/// The three namespaces, wired: each pod's `eth0` is a veth whose peer sits on the
/// node's bridge, with a default route through the node (service VIPs must be
/// routable for the nat OUTPUT rules to see them).
#[derive(Debug)]
pub(crate) struct Topology {
    pub(crate) node: Netns,
    pub(crate) client: Netns,
    pub(crate) server: Netns,
}

/// A process started in a namespace, killed on drop. `ip netns exec`, `setpriv` and
/// the program each exec the next, so its pid is the program's own (the one whose
/// `/proc` counters are read).
#[derive(Debug)]
pub(crate) struct Process {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Netns {
    fn create(name: &str) -> Result<Netns, String> {
        run("ip", &["netns", "add", name])?;
        let netns = Netns {
            name: name.to_string(),
        };
        netns.ip(&["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS…`.
    pub(crate) fn ip(&self, args: &[&str]) -> Result<String, String> {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs a short command inside the namespace, as root, to completion.
    pub(crate) fn exec(&self, argv: &[&str]) -> Result<String, String> {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(argv);
        run("ip", &all)
    }

    /// Starts `argv` in the namespace, as uid/gid 1337 when `as_proxy`, with `env`
    /// added, its stdout and stderr in `log`.
    pub(crate) fn spawn(
        &self,
        name: &str,
        argv: &[&str],
        as_proxy: bool,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Result<Process, String> {
        let file = File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let stderr = file
            .try_clone()
            .map_err(|e| format!("clone {}: {e}", log.display()))?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]);
        if as_proxy {
            cmd.args(["setpriv", "--reuid", PROXY_UID, "--regid", PROXY_UID])
                .arg("--clear-groups");
        }
        cmd.args(argv)
            // The proxies size their runtimes from the cores, not from this.
            .env_remove("TOKIO_WORKER_THREADS")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} in {}: {e}", self.name))?;
        Ok(Process {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// The HTTP status of a GET from inside the namespace, `None` when it failed.
    pub(crate) fn http_status(&self, url: &str) -> Option<u16> {
        let out = self
            .exec(&[
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-m",
                "2",
                "-w",
                "%{http_code}",
                url,
            ])
            .ok()?;
        out.trim().parse().ok().filter(|code| *code != 0)
    }

    /// Polls `url` from inside the namespace until it answers `200`, up to `within`.
    pub(crate) fn wait_http_ok(&self, url: &str, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let status = self.http_status(url);
            if status == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{url} from {} answered {status:?} for {within:?}, never 200",
                    self.name
                ));
            }
            sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        delete(&self.name);
    }
}

impl Topology {
    /// Removes what a previous run left, then builds the network.
    pub(crate) fn create() -> Result<Topology, String> {
        sweep();
        let topology = Topology {
            node: Netns::create(&format!("{PREFIX}node"))?,
            client: Netns::create(&format!("{PREFIX}client"))?,
            server: Netns::create(&format!("{PREFIX}server"))?,
        };
        let node = &topology.node;
        node.ip(&["link", "add", "br0", "type", "bridge"])?;
        node.ip(&["addr", "add", &format!("{NODE_IP}/24"), "dev", "br0"])?;
        node.ip(&["link", "set", "br0", "up"])?;
        for (pod, ip, peer) in [
            (&topology.client, CLIENT_IP, "vclient"),
            (&topology.server, SERVER_IP, "vserver"),
        ] {
            pod.ip(&[
                "link", "add", "eth0", "type", "veth", "peer", "name", peer, "netns", &node.name,
            ])?;
            node.ip(&["link", "set", peer, "master", "br0", "up"])?;
            pod.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
            pod.ip(&["link", "set", "eth0", "up"])?;
            pod.ip(&["route", "add", "default", "via", NODE_IP])?;
        }
        Ok(topology)
    }
}

impl Process {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its exit status once it has exited, `None` while it runs.
    pub(crate) fn exited(&mut self) -> Result<Option<ExitStatus>, String> {
        self.child
            .try_wait()
            .map_err(|e| format!("{}: {e}", self.name))
    }

    /// An error with the end of its log when the process has exited.
    pub(crate) fn check_running(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); the end of its log:\n{}",
                self.name,
                self.log_tail(30)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    pub(crate) fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} (tail) ---\n{}", self.name, self.log_tail(30));
        }
    }
}

/// Deletes every `mpb-…` namespace and kills what runs in it: what a killed run left.
pub(crate) fn sweep() {
    let Ok(list) = run("ip", &["netns", "list"]) else {
        return;
    };
    // Lines look like `name (id: 3)`.
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if name.starts_with(PREFIX) {
            delete(name);
        }
    }
}

fn delete(name: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", name]) {
        for pid in pids.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).output();
        }
    }
    let _ = Command::new("ip").args(["netns", "del", name]).output();
}

/// Runs a command to completion: its stdout, or an error with its stderr.
pub(crate) fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `path` as the `&str` an argv needs.
pub(crate) fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))
}
