//! A throwaway network namespace for the root-only capture tests: commands run in
//! it, processes started in it, and everything removed on drop (also on panic).
//! Tests check [`crate::prerequisites`] (root, iproute2) before making one.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A network namespace and the processes started for it.
#[derive(Debug)]
pub struct TestNamespace {
    name: String,
    children: Vec<Child>,
}

impl TestNamespace {
    /// Creates the namespace (replacing a stale one of that name); panics with `ip`'s
    /// error when it cannot.
    pub fn create(name: &str) -> TestNamespace {
        add_namespace(name);
        TestNamespace {
            name: name.to_string(),
            children: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <ns>`, for a command of one's own.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]);
        cmd
    }

    /// Runs `args` in the namespace to completion; panics with its stderr on failure.
    pub fn run(&self, args: &[&str]) {
        let out = self
            .command()
            .args(args)
            .output()
            .expect("ip netns exec runs");
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `args` in the namespace, in `cwd`, logging to `log`; killed on drop.
    pub fn spawn(&mut self, args: &[&str], cwd: &Path, log: &Path) {
        let log = std::fs::File::create(log).expect("log file");
        let child = self
            .command()
            .args(args)
            .current_dir(cwd)
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("process starts");
        self.children.push(child);
    }

    /// A process started elsewhere (on the host) that goes when the namespace goes.
    pub fn adopt(&mut self, child: Child) {
        self.children.push(child);
    }

    /// `curl` from inside the namespace: the status and body, or `None` on failure.
    pub fn curl(&self, headers: &[&str], url: &str) -> Option<(u16, String)> {
        curl(self.command(), headers, url)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the namespace deletes its veth pairs, host ends included.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// `ip netns add name`, replacing a stale namespace of that name; panics with `ip`'s
/// error when it fails (the test checked [`crate::prerequisites`] first).
pub fn add_namespace(name: &str) {
    let _ = Command::new("ip").args(["netns", "del", name]).output();
    let out = Command::new("ip")
        .args(["netns", "add", name])
        .output()
        .expect("`ip` runs");
    assert!(
        out.status.success(),
        "ip netns add {name}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// `curl` as `cmd` (a prefix such as `ip netns exec <ns>`, or `env` for the host):
/// the status and body, or `None` on failure.
pub fn curl(mut cmd: Command, headers: &[&str], url: &str) -> Option<(u16, String)> {
    cmd.args(["curl", "-s", "-m", "3"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.args(["-w", "\n%{http_code}", url]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.trim().to_string()))
}
