//! `meshctl install` and `meshctl uninstall`: the three charts with Helm, in the
//! order docs/install.md gives, one progress line per step. What runs is planned in
//! [`plan`] as data; this file finds helm and the charts and runs the plan.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Args;

use crate::cluster::ClusterArgs;

mod plan;

/// How often a long helm step says it is still running.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

use plan::{HelmStep, InstallRequest, install_plan, uninstall_plan};

/// Install mesh on the cluster: mesh-base, mesh-control (waiting until it is
/// ready), and the ingress gateway with --with-gateway.
#[derive(Debug, Args)]
#[command(
    after_help = "Runs `helm upgrade --install` for each chart, so a rerun finishes a half-done install.\n--set and -f say which chart they are for: `control.replicaCount=2`, `base.istioCRDs.enabled=true`,\n`gateway.service.type=NodePort`; `global.*` goes to every chart; a plain -f FILE to mesh-control.\n\nExamples:\n  meshctl install\n  meshctl install --with-gateway --set global.tag=0.1.0\n  meshctl install --dry-run -f control=prod.yaml\n  meshctl install --context kind-mesh --charts ./charts --helm target/tools/bin/helm"
)]
pub(crate) struct InstallArgs {
    #[command(flatten)]
    helm: HelmArgs,

    /// Also install the ingress gateway (release mesh-ingress); same as
    /// `--set gateway.enabled=true`.
    #[arg(long)]
    with_gateway: bool,

    /// A chart value: `CHART.KEY=VALUE` (CHART = base, control or gateway) or
    /// `global.KEY=VALUE` for all charts. Repeatable.
    #[arg(long = "set", value_name = "CHART.KEY=VALUE")]
    sets: Vec<String>,

    /// A values file: `CHART=FILE`, or `FILE` for mesh-control. Repeatable.
    #[arg(short = 'f', long = "values", value_name = "[CHART=]FILE")]
    values_files: Vec<String>,

    /// Print the helm commands and the manifests (`helm template`); change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Uninstall mesh from the cluster, in the reverse order of install. Keeps the CRDs
/// (and so every mesh object), as Helm does.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl uninstall\n  meshctl uninstall --dry-run\n\nHelm keeps the CRDs and so the config in them; docs/install.md says how to remove them."
)]
pub(crate) struct UninstallArgs {
    #[command(flatten)]
    helm: HelmArgs,

    /// Print the helm commands; change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Where helm and the charts are, and the gateway's namespace.
#[derive(Debug, Args)]
struct HelmArgs {
    /// The directory holding mesh-base, mesh-control and mesh-gateway (default: the
    /// `charts` directory of the checkout or release meshctl runs from).
    #[arg(long, env = "MESH_CHARTS", value_name = "DIR")]
    charts: Option<PathBuf>,

    /// The helm binary (default: `helm` on PATH, else target/tools/bin/helm from
    /// `cargo xtask tools`).
    #[arg(long, env = "MESH_HELM", value_name = "PATH")]
    helm: Option<PathBuf>,

    /// The ingress gateway's namespace.
    #[arg(long, value_name = "NS", default_value = "mesh-ingress")]
    gateway_namespace: String,

    /// How long helm waits for mesh-control to be ready.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    timeout: String,
}

pub(crate) fn run_install(args: &InstallArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let charts = find_charts(args.helm.charts.as_deref())?;
    let request = InstallRequest {
        with_gateway: args.with_gateway,
        sets: args.sets.clone(),
        values_files: args.values_files.clone(),
        ..request(&args.helm, cluster, charts)
    };
    let steps = install_plan(&request)?;
    let helm = find_helm(args.helm.helm.as_deref())?;
    if args.dry_run {
        return dry_run(&helm, &steps, true);
    }
    run_steps(&helm, &steps, "install")?;
    println!(
        "✔ mesh is installed. Label a namespace for injection: \
         `kubectl label namespace NS mesh.dev/inject=enabled`; check with `meshctl version` \
         and `meshctl proxy-status`."
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_uninstall(
    args: &UninstallArgs,
    cluster: &ClusterArgs,
) -> anyhow::Result<ExitCode> {
    // The charts are not read by `helm uninstall`; any directory will do.
    let charts = args.helm.charts.clone().unwrap_or_default();
    let steps = uninstall_plan(&request(&args.helm, cluster, charts));
    let helm = find_helm(args.helm.helm.as_deref())?;
    if args.dry_run {
        return dry_run(&helm, &steps, false);
    }
    run_steps(&helm, &steps, "uninstall")?;
    println!(
        "✔ mesh is uninstalled. Helm keeps the CRDs and the mesh config in them; to remove \
         them too: `kubectl delete -f charts/mesh-base/crds/` (and, for Istio's groups \
         installed by mesh-base, `kubectl delete crd -l app.kubernetes.io/instance=mesh-base`). \
         The CA Secret istio-ca-secret in {} is kept as well.",
        cluster.mesh_namespace
    );
    Ok(ExitCode::SUCCESS)
}

fn request(helm: &HelmArgs, cluster: &ClusterArgs, charts: PathBuf) -> InstallRequest {
    InstallRequest {
        charts,
        mesh_namespace: cluster.mesh_namespace.clone(),
        gateway_namespace: helm.gateway_namespace.clone(),
        kubeconfig: cluster.kubeconfig.clone(),
        context: cluster.context.clone(),
        timeout: helm.timeout.clone(),
        ..InstallRequest::default()
    }
}

/// Runs the steps in order; the first failure stops and names its step.
fn run_steps(helm: &Path, steps: &[HelmStep], verb: &str) -> anyhow::Result<()> {
    let total = steps.len();
    for (i, step) in steps.iter().enumerate() {
        let n = i + 1;
        println!("[{n}/{total}] {verb} {} …", step.title);
        let started = Instant::now();
        let output = run_with_progress(helm, step)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            bail!(
                "step {n}/{total} ({verb} {}) failed: `{} {}` said: {}\n{}",
                step.chart.release,
                helm.display(),
                step.args.join(" "),
                stderr.trim(),
                what_to_check(verb, step)
            );
        }
        println!(
            "[{n}/{total}] ✔ {} ({:.0?})",
            step.chart.release,
            started.elapsed()
        );
    }
    Ok(())
}

/// Runs one helm command, saying every [`PROGRESS_EVERY`] that it still runs (a
/// `--wait` can take minutes).
fn run_with_progress(helm: &Path, step: &HelmStep) -> anyhow::Result<Output> {
    let child = Command::new(helm)
        .args(&step.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}; check --helm", helm.display()))?;
    let (done_tx, done_rx) = mpsc::channel();
    // The pipes are drained beside the wait, so a chatty helm never blocks.
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let started = Instant::now();
    loop {
        match done_rx.recv_timeout(PROGRESS_EVERY) {
            Ok(output) => {
                return output.with_context(|| format!("lost track of {}", helm.display()));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => println!(
                "      … still working on {} ({:.0?})",
                step.chart.release,
                started.elapsed()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("lost track of {}", helm.display())
            }
        }
    }
}

/// The next thing to look at when a step failed.
fn what_to_check(verb: &str, step: &HelmStep) -> String {
    let release = step.chart.release;
    let namespace = step
        .args
        .iter()
        .find_map(|a| a.strip_prefix("--namespace="))
        .unwrap_or("mesh-system");
    match (verb, release) {
        ("install", "mesh-control") => format!(
            "check: `kubectl -n {namespace} get pods` and `kubectl -n {namespace} describe \
             deployment mesh-control` (image pull, readiness on :15014/healthz/ready), \
             `kubectl -n {namespace} logs deploy/mesh-control`; `meshctl precheck` finds \
             cluster problems; rerun `meshctl install` when fixed"
        ),
        ("install", _) => format!(
            "check: `helm status {release} -n {namespace}`, your RBAC (`meshctl precheck`), \
             and the values given; rerun `meshctl install` when fixed"
        ),
        _ => format!(
            "check: `helm list -n {namespace}` and `helm status {release} -n {namespace}`; \
             rerun `meshctl uninstall` when fixed"
        ),
    }
}

/// Prints each command and, for install, what it would apply (`helm template`).
fn dry_run(helm: &Path, steps: &[HelmStep], render: bool) -> anyhow::Result<ExitCode> {
    for (i, step) in steps.iter().enumerate() {
        println!(
            "# [{}/{}] would run: {} {}",
            i + 1,
            steps.len(),
            helm.display(),
            step.args.join(" ")
        );
        if !render {
            continue;
        }
        let output = Command::new(helm)
            .args(&step.template_args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}; check --helm", helm.display()))?;
        if !output.status.success() {
            bail!(
                "`helm {}` failed: {}\ncheck the values given with --set and -f",
                step.template_args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
    println!("# dry run: nothing was changed");
    Ok(ExitCode::SUCCESS)
}

/// The charts directory: the flag, else `charts/` next to a checkout or release
/// meshctl runs from (up from the binary), else the one meshctl was built from.
fn find_charts(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let has_charts = |dir: &Path| dir.join("mesh-base").join("Chart.yaml").is_file();
    if let Some(dir) = flag {
        if has_charts(dir) {
            return Ok(dir.to_path_buf());
        }
        bail!(
            "{} does not hold mesh-base/Chart.yaml; pass the repository's charts/ directory \
             to --charts",
            dir.display()
        );
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("charts");
    let candidates = exe_ancestors()
        .into_iter()
        .map(|d| d.join("charts"))
        .chain([PathBuf::from("charts"), built_from]);
    for dir in candidates {
        if has_charts(&dir) {
            return Ok(dir);
        }
    }
    Err(anyhow!(
        "cannot find mesh's Helm charts; pass --charts DIR (the charts/ directory of the \
         mesh repository or release)"
    ))
}

/// helm: the flag, else on PATH, else under target/tools/bin (`cargo xtask tools`).
fn find_helm(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = flag {
        return Ok(path.to_path_buf());
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let tools = exe_ancestors()
        .into_iter()
        .flat_map(|d| [d.join("tools").join("bin"), d.join("target/tools/bin")]);
    on_path
        .into_iter()
        .chain(tools)
        .map(|dir| dir.join("helm"))
        .find(|helm| helm.is_file())
        .ok_or_else(|| {
            anyhow!(
                "cannot find helm on PATH; install Helm 3.13+ (https://helm.sh/docs/intro/install/), \
                 run `cargo xtask tools`, or pass --helm PATH"
            )
        })
}

fn exe_ancestors() -> Vec<PathBuf> {
    std::env::current_exe()
        .ok()
        .map(|exe| exe.ancestors().skip(1).map(Path::to_path_buf).collect())
        .unwrap_or_default()
}
