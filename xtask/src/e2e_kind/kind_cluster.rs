//! One kind cluster for one `cargo xtask e2e kind` run: created from
//! `e2e/kind/cluster.yaml` with a pinned node image, its kubeconfig kept under
//! `target/xtask/kind/`, and deleted when dropped (also after a failure) unless kept.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::command::{ToolEnv, output, run};
use crate::progress::Step;

#[derive(Debug)]
pub(crate) struct KindCluster {
    name: String,
    kind: PathBuf,
    kubeconfig: PathBuf,
    env: ToolEnv,
    keep: bool,
}

impl KindCluster {
    /// Creates the cluster `name` (deleting one of that name left by an earlier run)
    /// and waits for its nodes to be ready.
    pub(crate) fn create(
        env: &ToolEnv,
        kind: &Path,
        name: &str,
        node_image: &str,
        config: &Path,
        kubeconfig: &Path,
        keep: bool,
    ) -> Result<KindCluster> {
        let mut clusters = env.command(kind);
        clusters.args(["get", "clusters"]);
        let existing = output(&mut clusters)?;
        let cluster = KindCluster {
            name: name.to_string(),
            kind: kind.to_path_buf(),
            kubeconfig: kubeconfig.to_path_buf(),
            env: env.clone(),
            keep,
        };
        if String::from_utf8_lossy(&existing.stdout)
            .lines()
            .any(|l| l.trim() == name)
        {
            println!("    a cluster named {name} is left from an earlier run: deleting it");
            run(&mut cluster.kind_command(&["delete", "cluster"]))?;
        }
        let mut create = cluster.kind_command(&["create", "cluster"]);
        create
            .args(["--image", node_image, "--wait", "180s", "--config"])
            .arg(config);
        run(&mut create).context(
            "kind could not create the cluster: see its output above (is docker running, \
             and are fs.inotify.max_user_instances/max_user_watches raised?)",
        )?;
        Ok(cluster)
    }

    pub(crate) fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `kind ARGS… --name <cluster> --kubeconfig <file>`.
    fn kind_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.command(&self.kind);
        cmd.args(args)
            .args(["--name", &self.name, "--kubeconfig"])
            .arg(&self.kubeconfig);
        cmd
    }

    /// `kubectl --kubeconfig <file> ARGS…` (the pinned kubectl from target/tools).
    pub(crate) fn kubectl(&self, args: &[&str]) -> Command {
        let mut cmd = self.env.tool("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd
    }

    /// `helm --kubeconfig <file> ARGS…` (the pinned Helm from target/tools).
    pub(crate) fn helm(&self, args: &[String]) -> Command {
        let mut cmd = self.env.tool("helm");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd
    }

    /// Copies `images` from the local engine into every node (no registry involved).
    pub(crate) fn load(&self, images: &[String]) -> Result<()> {
        let mut load = self.env.command(&self.kind);
        load.args(["load", "docker-image", "--name", &self.name])
            .args(images);
        run(&mut load).context("kind could not load the images into the nodes")
    }

    /// `kind export logs` (every node's kubelet, containerd and pod logs) into `dir`,
    /// and the state of every pod on the terminal.
    pub(crate) fn collect_logs(&self, dir: &Path) {
        let mut export = self.env.command(&self.kind);
        export
            .args(["export", "logs"])
            .arg(dir)
            .args(["--name", &self.name]);
        if let Err(e) = run(&mut export) {
            println!("    could not export the cluster's logs: {e:#}");
        }
        let _ = run(&mut self.kubectl(&["get", "pods", "-A", "-o", "wide"]));
        let _ = run(&mut self.helm(&["list".to_string(), "-A".to_string()]));
        println!("    logs: {}", dir.display());
    }
}

impl Drop for KindCluster {
    fn drop(&mut self) {
        if self.keep {
            println!(
                "==> kind cluster {} kept: `export KUBECONFIG={}`; delete it with \
                 `kind delete cluster --name {}`",
                self.name,
                self.kubeconfig.display(),
                self.name
            );
            return;
        }
        let step = Step::start(format!("delete kind cluster {}", self.name));
        let deleted = run(&mut self.kind_command(&["delete", "cluster"]));
        let _ = step.finish(deleted);
    }
}
