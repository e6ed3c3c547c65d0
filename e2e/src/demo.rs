//! The demo (`cargo xtask demo`, binary `mesh-demo`): a whole mesh on this machine —
//! the control plane and a Bookinfo-like app of network-namespace pods with sidecars —
//! and a walk through Istio's traffic-management tasks on it, each step showing the
//! YAML applied and what the traffic did.

use std::time::{Duration, Instant};

use crate::cluster::{ClusterError, LocalCluster};

pub mod app;
mod inspect;
mod preflight;
pub mod report;
mod steps;

use app::Bookinfo;

/// What `mesh-demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Leave the mesh running after the walk-through, until Ctrl-C.
    pub keep: bool,
    /// Requests per measurement.
    pub requests: u64,
}

/// Why the demo stopped; each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// This machine cannot run the local cluster.
    #[error("the demo cannot run here: {0}")]
    Unavailable(String),
    #[error(
        "{0}\n(the logs of every process are printed above when a pod failed; run again with --keep to look around)"
    )]
    Cluster(#[from] ClusterError),
    #[error("interrupted; everything the demo started has been removed")]
    Interrupted,
}

/// Checks the machine, starts the cluster and the app, walks through the steps, and
/// with `keep` waits for Ctrl-C. Everything is removed on return (also on Ctrl-C).
pub async fn run(options: &DemoOptions) -> Result<(), DemoError> {
    if let Some(problem) = preflight::problem() {
        return Err(DemoError::Unavailable(problem));
    }
    let started = Instant::now();
    println!("mesh demo: a service mesh on this machine, without Kubernetes.");
    println!("Each pod is a Linux network namespace running an app (uid 1000) and a");
    println!("mesh-proxy sidecar (uid 1337) that iptables rules route its traffic through;");
    println!("mesh-control gives every sidecar its config over xDS, as istiod does.");
    let mut cluster = interruptible(start_cluster()).await??;
    let app = interruptible(walk(&mut cluster, options.requests)).await??;
    println!(
        "\nThe walk-through took {:.0}s.",
        started.elapsed().as_secs_f64()
    );
    if options.keep {
        println!("\n{}", inspect::keep_instructions(&cluster, &app));
        wait_for_stop().await;
    }
    print!("Stopping and removing every pod and namespace… ");
    drop(cluster);
    println!("done.");
    Ok(())
}

async fn start_cluster() -> Result<LocalCluster, ClusterError> {
    heading("Starting the mesh");
    let started = Instant::now();
    let cluster = LocalCluster::start().await?;
    println!(
        "  control plane   mesh-control, xDS on {}, debug on {}  {:.1}s",
        cluster.xds_address(),
        cluster.debug_address(),
        started.elapsed().as_secs_f64()
    );
    Ok(cluster)
}

async fn walk(cluster: &mut LocalCluster, requests: u64) -> Result<Bookinfo, ClusterError> {
    let mut app = Bookinfo::deploy(cluster).await?;
    println!(
        "  client-0 → frontend → reviews (v1 | v2 → ratings | v3 → ratings), namespace {}",
        app::NAMESPACE
    );
    steps::walk(cluster, &mut app, requests).await?;
    heading("7 · What the control plane sees: meshctl proxy-status");
    match inspect::proxy_status(cluster) {
        Ok(table) => print!("{}", indent(&table)),
        Err(e) => println!("  {e}"),
    }
    Ok(app)
}

/// Runs `work`, or returns `Interrupted` at Ctrl-C (dropping what `work` held).
async fn interruptible<T>(work: impl Future<Output = T>) -> Result<T, DemoError> {
    tokio::select! {
        out = work => Ok(out),
        _ = tokio::signal::ctrl_c() => {
            println!();
            Err(DemoError::Interrupted)
        }
    }
}

async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(term) => term.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    // A second line after the terminal's ^C.
    println!();
    tokio::time::sleep(Duration::from_millis(10)).await;
}

fn heading(title: &str) {
    let rule = "─".repeat(72usize.saturating_sub(title.chars().count() + 4));
    println!("\n── {title} {rule}");
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
