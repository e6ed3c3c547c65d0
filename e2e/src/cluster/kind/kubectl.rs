//! `kubectl` as the kind cluster drives it: one program, one kubeconfig context, every
//! call with a timeout and its stderr in the error.

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;

use crate::cluster::{ClusterError, ExecOutput};

/// How long one kubectl call may take unless the caller says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// The `kubectl` to run and the cluster it talks to.
#[derive(Debug, Clone)]
pub struct Kubectl {
    program: String,
    /// `--kubeconfig`; `None`: kubectl's own lookup (`KUBECONFIG`, `~/.kube/config`).
    kubeconfig: Option<String>,
    /// `--context`; `None`: the kubeconfig's current context.
    context: Option<String>,
}

impl Kubectl {
    pub fn new(program: &str, kubeconfig: Option<String>, context: Option<String>) -> Kubectl {
        Kubectl {
            program: program.to_string(),
            kubeconfig,
            context,
        }
    }

    /// The full argv of `kubectl ARGS…` with the connection flags.
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![self.program.clone()];
        if let Some(kubeconfig) = &self.kubeconfig {
            argv.extend(["--kubeconfig".to_string(), kubeconfig.clone()]);
        }
        if let Some(context) = &self.context {
            argv.extend(["--context".to_string(), context.clone()]);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Runs `kubectl ARGS…` (with `stdin` written to it) and returns what it left,
    /// whatever its exit status.
    pub async fn output(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<ExecOutput, ClusterError> {
        self.start(args, stdin, timeout)?.await
    }

    /// [`Kubectl::output`], failing unless kubectl exits 0; returns its stdout.
    pub async fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, ClusterError> {
        self.run_for(args, stdin, DEFAULT_TIMEOUT).await
    }

    /// [`Kubectl::run`] with its own timeout (for `wait`, `rollout status`, deletes
    /// that wait), longer than the one given to kubectl itself.
    pub async fn run_for(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<String, ClusterError> {
        let out = self.output(args, stdin, timeout).await?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(self.error(
                args,
                format!("exit status {}: {}", out.status, out.stderr.trim()),
            ))
        }
    }

    /// Starts `kubectl ARGS…` now; the future collects it. Dropping the future kills
    /// kubectl (for `exec`, that ends the stream to the pod).
    pub fn start(
        &self,
        args: &[&str],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<impl Future<Output = Result<ExecOutput, ClusterError>> + Send + 'static, ClusterError>
    {
        let argv = self.argv(args);
        let shown = shown(args);
        let error = move |detail: String| ClusterError::Command {
            command: shown.clone(),
            detail,
        };
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| error(format!("{e}; is kubectl installed and on PATH?")))?;
        let input = stdin.map(str::to_string);
        let mut pipe = child.stdin.take();
        Ok(async move {
            if let (Some(input), Some(pipe)) = (input, pipe.as_mut()) {
                // A write error shows up as kubectl's own failure.
                let _ = pipe.write_all(input.as_bytes()).await;
            }
            drop(pipe);
            let output = tokio::time::timeout(timeout, child.wait_with_output())
                .await
                .map_err(|_| error(format!("still running after {timeout:?}")))?
                .map_err(|e| error(e.to_string()))?;
            Ok(ExecOutput {
                status: output.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        })
    }

    /// Runs `kubectl ARGS…` to completion without an async runtime (for `Drop`);
    /// failures are returned as text, for a log.
    pub fn run_blocking(&self, args: &[&str]) -> Result<String, String> {
        let argv = self.argv(args);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", shown(args)))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{}: {}",
                shown(args),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    pub fn error(&self, args: &[&str], detail: String) -> ClusterError {
        ClusterError::Command {
            command: shown(args),
            detail,
        }
    }
}

fn shown(args: &[&str]) -> String {
    format!("kubectl {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_flags_come_before_the_command() {
        let kubectl = Kubectl::new("kubectl", Some("/k".into()), Some("kind-mesh-e2e".into()));
        assert_eq!(
            kubectl.argv(&["get", "pods"]),
            [
                "kubectl",
                "--kubeconfig",
                "/k",
                "--context",
                "kind-mesh-e2e",
                "get",
                "pods"
            ]
        );
        assert_eq!(
            Kubectl::new("k", None, None).argv(&["version"]),
            ["k", "version"]
        );
    }
}
