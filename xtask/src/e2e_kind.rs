//! `cargo xtask e2e kind`: the whole mesh on Kubernetes. Creates a kind cluster,
//! builds and loads the images, installs the charts as a user would, deploys the
//! sample app in an injected namespace, runs the `Cluster`-trait scenarios against it
//! (`e2e/tests/kind_mesh.rs`) and deletes the cluster, also after a failure.
//!
//! Needs kind, docker and (installed by `cargo xtask tools`) helm and kubectl: GitHub
//! Actions runs it (`.github/workflows/e2e-kind.yml`); the development machines here
//! have no container engine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

use crate::command::{ToolEnv, run};
use crate::images::{self, BuildOptions, Engine, EngineChoice, Image};
use crate::progress::Step;
use crate::tools;
use crate::workspace::Workspace;

mod charts;
mod kind_cluster;
pub(crate) mod node_image;
mod sample_app;

use charts::install_charts;
use kind_cluster::KindCluster;
use node_image::{DEFAULT_KUBERNETES_VERSION, KIND_VERSION};
use sample_app::{SAMPLE_NAMESPACE, sample_app};

#[derive(Debug, Args)]
pub(crate) struct E2eArgs {
    #[command(subcommand)]
    target: E2eTarget,
}

#[derive(Debug, Subcommand)]
enum E2eTarget {
    /// The charts and images on a kind cluster, running the Cluster-trait scenarios.
    ///
    /// Creates the cluster (e2e/kind/cluster.yaml, the node image of
    /// --kubernetes-version), builds the images and loads them into it, installs
    /// mesh-base, mesh-control (--wait) and mesh-gateway from charts/, deploys the
    /// sample app in an injected namespace and checks it, runs e2e/tests/kind_mesh.rs,
    /// then deletes the cluster (also after a failure; --keep keeps it). Needs kind
    /// and docker; helm and kubectl come from `cargo xtask tools`.
    Kind(KindArgs),
}

#[derive(Debug, Args)]
pub(crate) struct KindArgs {
    /// Kubernetes minor version of the cluster (a node image is pinned for each).
    #[arg(long, default_value = DEFAULT_KUBERNETES_VERSION, value_name = "VERSION")]
    kubernetes_version: String,

    /// Name of the kind cluster.
    #[arg(long, default_value = "mesh-e2e")]
    name: String,

    /// Keep the cluster afterwards (prints how to reach it and delete it).
    #[arg(long)]
    keep: bool,

    /// Use the images already in the local engine instead of building them.
    #[arg(long)]
    skip_images: bool,

    /// Arguments for the scenarios' test binary (after `--`), e.g. a test name filter.
    #[arg(last = true, value_name = "TEST_ARGS")]
    test_args: Vec<String>,
}

/// The programs the run needs besides the pinned helm and kubectl.
#[derive(Debug)]
struct Prerequisites {
    kind: PathBuf,
    engine: Engine,
}

pub(crate) fn run_e2e(ws: &Workspace, args: &E2eArgs) -> Result<()> {
    match &args.target {
        E2eTarget::Kind(kind) => run_kind(ws, kind),
    }
}

fn run_kind(ws: &Workspace, args: &KindArgs) -> Result<()> {
    let node_image =
        node_image::node_image(&args.kubernetes_version).map_err(anyhow::Error::msg)?;
    let env = ToolEnv::new(ws);
    let prerequisites =
        Step::start("check kind, docker, helm and kubectl").finish(prerequisites(ws))?;
    let work = ws.scratch_dir().join("kind");
    let logs = work.join("logs");
    // Logs of an earlier run would be mistaken for this one's.
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs)
        .with_context(|| format!("could not create {}", logs.display()))?;
    let tag = images::WORKSPACE_VERSION.to_string();
    let hub = images::DEFAULT_HUB.to_string();
    let references: Vec<String> = Image::ALL.iter().map(|i| i.reference(&hub, &tag)).collect();

    let cluster = Step::start(format!(
        "kind cluster {} (Kubernetes {}, {node_image})",
        args.name, args.kubernetes_version
    ))
    .finish(KindCluster::create(
        &env,
        &prerequisites.kind,
        &args.name,
        node_image,
        &ws.root().join("e2e/kind/cluster.yaml"),
        &work.join(format!("{}.kubeconfig", args.name)),
        args.keep,
    ))?;
    let result = (|| -> Result<()> {
        if !args.skip_images {
            let options = BuildOptions {
                hub: hub.clone(),
                tag: tag.clone(),
                fast: true,
            };
            for image in Image::ALL {
                images::build(ws, &env, &prerequisites.engine, image, &options)?;
            }
        }
        Step::start("load the images into the cluster").finish(cluster.load(&references))?;
        Step::start("install the charts").finish(install_charts(ws, &cluster, &hub, &tag))?;
        let sample_image = Image::SampleApp.reference(&hub, &tag);
        Step::start(format!(
            "sample app in the injected namespace {SAMPLE_NAMESPACE}"
        ))
        .finish(sample_app(ws, &cluster, &sample_image))?;
        Step::start("scenarios (e2e/tests/kind_mesh.rs)").finish(scenarios(
            ws,
            &env,
            &cluster,
            &sample_image,
            &logs.join("scenarios"),
            &args.test_args,
        ))
    })();
    if result.is_err() {
        let step = Step::start("collect logs");
        cluster.collect_logs(&logs.join("kind"));
        step.finish(Ok(()))?;
    }
    drop(cluster);
    result
}

/// Finds kind and a running docker, then installs the pinned helm and kubectl; says
/// everything that is missing at once.
fn prerequisites(ws: &Workspace) -> Result<Prerequisites> {
    let mut missing = Vec::new();
    let kind = images::find_on_path("kind");
    if kind.is_none() {
        missing.push(format!(
            "kind is not installed: install {KIND_VERSION} (`go install sigs.k8s.io/kind@{KIND_VERSION}`, \
             or its release binary from https://kind.sigs.k8s.io/docs/user/quick-start/)"
        ));
    }
    // kind runs its nodes as docker containers (podman is experimental there).
    let engine = images::find_engine(EngineChoice::Docker);
    if let Err(why) = &engine {
        missing.push(why.clone());
    }
    match (kind, engine) {
        (Some(kind), Ok(engine)) => {
            warn_on_other_kind_version(&kind);
            tools::install(ws, false).context("helm and kubectl come from `cargo xtask tools`")?;
            Ok(Prerequisites { kind, engine })
        }
        _ => bail!(
            "the kind suite cannot run here:\n  - {}\nIt runs in GitHub Actions \
             (.github/workflows/e2e-kind.yml); see docs/testing.md",
            missing.join("\n  - ")
        ),
    }
}

fn warn_on_other_kind_version(kind: &Path) {
    let version = std::process::Command::new(kind).arg("version").output();
    let text = version
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !text.contains(&format!("kind {KIND_VERSION} ")) {
        println!(
            "    note: `kind version` says {:?}; the node images are pinned for kind {KIND_VERSION}",
            text.trim()
        );
    }
}

/// The scenarios' test binary against the cluster, one test at a time.
fn scenarios(
    ws: &Workspace,
    env: &ToolEnv,
    cluster: &KindCluster,
    sample_image: &str,
    logs: &Path,
    test_args: &[String],
) -> Result<()> {
    let mut test = env.cargo();
    test.current_dir(ws.root())
        .args([
            "test",
            "-p",
            "e2e",
            "--test",
            "kind_mesh",
            "--",
            "--test-threads=1",
        ])
        .args(test_args)
        .env("MESH_E2E_KIND", "1")
        .env("KUBECONFIG", cluster.kubeconfig())
        .env("MESH_KUBECTL", env.bin_dir().join("kubectl"))
        .env("MESH_KIND_SAMPLE_IMAGE", sample_image)
        .env("MESH_KIND_LOGS", logs);
    run(&mut test).with_context(|| {
        format!(
            "a scenario failed on kind: its pods' and the control plane's logs are in {}",
            logs.display()
        )
    })
}

#[cfg(test)]
mod tests;
