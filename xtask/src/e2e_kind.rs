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
use serde_json::Value;

use crate::command::{ToolEnv, output, run};
use crate::images::{self, BuildOptions, Engine, EngineChoice, Image};
use crate::progress::Step;
use crate::tools;
use crate::workspace::Workspace;

mod kind_cluster;
pub(crate) mod node_image;

use kind_cluster::KindCluster;
use node_image::{DEFAULT_KUBERNETES_VERSION, KIND_VERSION};

/// Where the sample app runs before the scenarios (`e2e/kind/sample-app.yaml`).
const SAMPLE_NAMESPACE: &str = "mesh-sample";
const CONTROL_PLANE_NAMESPACE: &str = "mesh-system";
const GATEWAY_NAMESPACE: &str = "mesh-ingress";
/// Placeholder in `e2e/kind/sample-app.yaml`.
const SAMPLE_IMAGE_PLACEHOLDER: &str = "${SAMPLE_APP_IMAGE}";

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

/// A chart installed by the run, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChartInstall {
    release: &'static str,
    chart: &'static str,
    namespace: &'static str,
    /// `helm --wait`: not for the gateway, whose LoadBalancer Service never gets an
    /// address on kind (its Deployment is waited for instead).
    wait: bool,
}

/// The seed's flow with our names: mesh-base, mesh-control --wait, then the ingress
/// gateway in its own namespace.
const CHARTS: [ChartInstall; 3] = [
    ChartInstall {
        release: "mesh-base",
        chart: "mesh-base",
        namespace: CONTROL_PLANE_NAMESPACE,
        wait: true,
    },
    ChartInstall {
        release: "mesh-control",
        chart: "mesh-control",
        namespace: CONTROL_PLANE_NAMESPACE,
        wait: true,
    },
    ChartInstall {
        release: "mesh-ingress",
        chart: "mesh-gateway",
        namespace: GATEWAY_NAMESPACE,
        wait: false,
    },
];

/// `helm install` arguments for `install`, with the images the run loaded.
fn helm_install_args(ws: &Workspace, install: &ChartInstall, hub: &str, tag: &str) -> Vec<String> {
    let chart = ws.charts_dir().join(install.chart);
    let values = ws
        .root()
        .join("e2e/kind/values")
        .join(format!("{}.yaml", install.chart));
    let mut args: Vec<String> = vec![
        "install".into(),
        install.release.into(),
        chart.to_string_lossy().into_owned(),
        "--namespace".into(),
        install.namespace.into(),
        "--create-namespace".into(),
        "--values".into(),
        values.to_string_lossy().into_owned(),
        "--set".into(),
        format!("global.hub={hub}"),
        "--set".into(),
        format!("global.tag={tag}"),
    ];
    if install.wait {
        args.extend(["--wait".into(), "--timeout".into(), "5m".into()]);
    }
    args
}

fn install_charts(ws: &Workspace, cluster: &KindCluster, hub: &str, tag: &str) -> Result<()> {
    for install in &CHARTS {
        println!(
            "    helm install {} ({} in {})",
            install.release, install.chart, install.namespace
        );
        run(&mut cluster.helm(&helm_install_args(ws, install, hub, tag)))
            .with_context(|| format!("installing the {} chart failed", install.chart))?;
    }
    wait_for_ca_bundles(cluster)?;
    run(&mut cluster.kubectl(&[
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        GATEWAY_NAMESPACE,
        "--timeout=300s",
    ]))
    .context("the gateway's Deployment did not become available")?;
    for install in &CHARTS {
        let status = ["status", install.release, "-n", install.namespace].map(String::from);
        run(&mut cluster.helm(&status))?;
    }
    run(&mut cluster.kubectl(&["get", "pods", "-n", CONTROL_PLANE_NAMESPACE, "-o", "wide"]))
}

/// The webhook configurations the control plane keeps the `caBundle` of (the chart
/// leaves it empty): until it is filled in, the API server cannot call the injector
/// and the first pods would be created without a sidecar or refused.
const WEBHOOK_CONFIGURATIONS: [(&str, &str); 2] = [
    ("mutatingwebhookconfiguration", "mesh-sidecar-injector"),
    ("validatingwebhookconfiguration", "mesh-validator"),
];

/// Waits (up to two minutes) until every webhook of both configurations has a
/// `caBundle`.
fn wait_for_ca_bundles(cluster: &KindCluster) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    for (kind, name) in WEBHOOK_CONFIGURATIONS {
        let object = format!("{kind}/{name}");
        loop {
            let mut get = cluster.kubectl(&[
                "get",
                &object,
                "-o",
                "jsonpath={range .webhooks[*]}{.clientConfig.caBundle}{\"\\n\"}{end}",
            ]);
            let bundles = output(&mut get)
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            if all_filled(&bundles) {
                println!("    {object}: caBundle set by mesh-control");
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!(
                    "{object} has no caBundle two minutes after mesh-control started: \
                     the control plane patches it (see its log for the webhook's \
                     serving certificate)"
                );
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    Ok(())
}

/// One `caBundle` per line (kubectl's jsonpath output): at least one, none empty.
fn all_filled(bundles: &str) -> bool {
    let lines: Vec<&str> = bundles.lines().collect();
    !lines.is_empty() && lines.iter().all(|l| !l.trim().is_empty())
}

/// `e2e/kind/sample-app.yaml` with the loaded image.
fn sample_manifest(template: &str, image: &str) -> String {
    template.replace(SAMPLE_IMAGE_PLACEHOLDER, image)
}

/// The pods of a `kubectl get pods -o json` list that have no `mesh-proxy`
/// container (as a container or a native sidecar).
fn pods_without_sidecar(list: &Value) -> Vec<String> {
    list.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|pod| {
            let containers = ["initContainers", "containers"]
                .iter()
                .filter_map(|k| pod.get("spec")?.get(*k)?.as_array())
                .flatten();
            !containers
                .filter_map(|c| c.get("name")?.as_str())
                .any(|n| n == "mesh-proxy")
        })
        .filter_map(|pod| {
            pod.get("metadata")?
                .get("name")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Deploys the sample app, checks that the webhook injected every pod and that
/// requests go through, then removes it (the scenarios count the proxies connected).
fn sample_app(ws: &Workspace, cluster: &KindCluster, image: &str) -> Result<()> {
    let path = ws.root().join("e2e/kind/sample-app.yaml");
    let template = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let manifest = ws.scratch_dir().join("kind/sample-app.yaml");
    std::fs::write(&manifest, sample_manifest(&template, image))?;
    let manifest = manifest.to_string_lossy().into_owned();
    run(&mut cluster.kubectl(&["apply", "-f", &manifest]))?;
    run(&mut cluster.kubectl(&[
        "wait", "--for=condition=Available", "deployment", "--all", "-n", SAMPLE_NAMESPACE, "--timeout=300s",
    ]))
    .context("the sample app did not become available: see `kubectl describe pods -n mesh-sample` in the logs")?;
    let pods =
        output(&mut cluster.kubectl(&["get", "pods", "-n", SAMPLE_NAMESPACE, "-o", "json"]))?;
    let pods: Value = serde_json::from_slice(&pods.stdout).context("kubectl get pods -o json")?;
    let bare = pods_without_sidecar(&pods);
    if !bare.is_empty() {
        bail!(
            "pods in the injected namespace {SAMPLE_NAMESPACE} have no sidecar: {}; check the \
             injection webhook (mesh-sidecar-injector) and mesh-control's log",
            bare.join(", ")
        );
    }
    let request = output(&mut cluster.kubectl(&[
        "exec",
        "-n",
        SAMPLE_NAMESPACE,
        "deploy/client",
        "-c",
        "app",
        "--",
        "mesh-sample-app",
        "request",
        "http://web:9080/",
        "-n",
        "20",
        "--json",
    ]))?;
    let summary: Value =
        serde_json::from_slice(&request.stdout).context("the client's --json summary")?;
    let ok = summary["statuses"]["200"].as_u64().unwrap_or(0);
    println!(
        "    client → web through the sidecars: {ok}/20 answered 200, by {}",
        summary["workloads"]
    );
    if ok != 20 {
        bail!("requests from the sample client to web failed: {summary}");
    }
    run(&mut cluster.kubectl(&[
        "delete",
        "namespace",
        SAMPLE_NAMESPACE,
        "--wait=true",
        "--timeout=180s",
    ]))
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
