//! Processes of a pod or of the control plane: started in a network namespace as a
//! given user, in their own process group, which is killed when dropped.

use std::fs;
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::netns::Netns;
use crate::cluster::{ClusterError, ExecOutput};
use crate::control_plane::log_tail;

/// A user and group id to run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ids {
    pub(super) uid: u32,
    pub(super) gid: u32,
}

/// A long-running process in a network namespace.
#[derive(Debug)]
pub(super) struct NetnsProcess {
    what: String,
    child: Child,
    log: PathBuf,
}

impl NetnsProcess {
    /// Starts `argv` in namespace `netns` as `ids` (root when `None`) with only `env`
    /// (and PATH) in its environment, stdout and stderr to `log`.
    pub(super) fn spawn(
        what: &str,
        netns: &str,
        ids: Option<Ids>,
        argv: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<NetnsProcess, ClusterError> {
        let error = |detail: String| ClusterError::Command {
            command: format!("{what}: {}", argv.join(" ")),
            detail,
        };
        let out =
            fs::File::create(log).map_err(|e| error(format!("log {}: {e}", log.display())))?;
        let err = out.try_clone().map_err(|e| error(e.to_string()))?;
        let (program, args) = netns_argv(netns, ids, argv);
        let child = Command::new(program)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", "/")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group, so dropping kills whatever it started too.
            .process_group(0)
            .spawn()
            .map_err(|e| error(format!("cannot start: {e}")))?;
        Ok(NetnsProcess {
            what: what.to_string(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// `Some(status)` when the process has exited.
    pub(super) fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|s| s.to_string())
    }

    /// Sends SIGTERM and waits up to `grace` for the process to exit (it is killed
    /// when dropped either way); `true` when it exited in time.
    pub(super) async fn terminate(&mut self, grace: Duration) -> bool {
        // `ip netns exec` and `setpriv` exec their command: the child is the program.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).output();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Waits until the process listens on every one of `ports` in `netns`; the error
    /// says whether it exited or which ports are missing.
    pub(super) async fn wait_listening(
        &mut self,
        netns: &Netns,
        ports: &[u16],
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("exited ({status})"));
            }
            let listening = netns.listening_ports().map_err(|e| e.to_string())?;
            let missing: Vec<u16> = ports
                .iter()
                .copied()
                .filter(|p| !listening.contains(p))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("does not listen on {missing:?} after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What it is (`app of demo/a`) and the end of its log, for error messages.
    pub(super) fn describe(&self, lines: usize) -> String {
        format!(
            "--- {} ({}) ---\n{}",
            self.what,
            self.log.display(),
            log_tail(&self.log, lines)
        )
    }
}

impl Drop for NetnsProcess {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).output();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ip netns exec NETNS [setpriv --reuid U --regid G --clear-groups --] ARGV…`: the
/// program and its arguments, for long-running processes and for `exec`.
fn netns_argv(netns: &str, ids: Option<Ids>, argv: &[String]) -> (String, Vec<String>) {
    let mut args: Vec<String> = ["netns", "exec", netns].map(String::from).to_vec();
    if let Some(ids) = ids {
        args.extend([
            "setpriv".to_string(),
            "--reuid".to_string(),
            ids.uid.to_string(),
        ]);
        args.extend([
            "--regid".to_string(),
            ids.gid.to_string(),
            "--clear-groups".to_string(),
        ]);
        args.push("--".to_string());
    }
    args.extend(argv.iter().cloned());
    ("ip".to_string(), args)
}

/// Runs `argv` to completion in namespace `netns` as `ids` (root when `None`); killed
/// after `timeout`.
pub(super) async fn exec(
    netns: &str,
    ids: Option<Ids>,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecOutput, ClusterError> {
    spawn_exec(netns, ids, argv, timeout)?.await
}

/// Starts `argv` as [`exec`] does; the returned future owns the process (killed when
/// dropped) and yields its output.
pub(super) fn spawn_exec(
    netns: &str,
    ids: Option<Ids>,
    argv: &[String],
    timeout: Duration,
) -> Result<impl Future<Output = Result<ExecOutput, ClusterError>> + Send + 'static, ClusterError> {
    let command = argv.join(" ");
    let error = move |detail: String| ClusterError::Command {
        command: command.clone(),
        detail,
    };
    let (program, args) = netns_argv(netns, ids, argv);
    let child = tokio::process::Command::new(program)
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| error(e.to_string()))?;
    Ok(async move {
        let output = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| error(format!("still running after {timeout:?}")))?
            .map_err(|e| error(e.to_string()))?;
        Ok(exec_output(&output))
    })
}

fn exec_output(output: &std::process::Output) -> ExecOutput {
    ExecOutput {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
