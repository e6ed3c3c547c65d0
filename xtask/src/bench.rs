//! `cargo xtask bench`: the performance benchmarks, which are not tests (figures on a
//! shared 2-core machine are noisy, so targets are judged from reports, never asserted).

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::command::{ToolEnv, run};
use crate::progress::Step;
use crate::workspace::Workspace;
use crate::{system_packages, tools};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which benchmarks to run.
    #[arg(value_enum)]
    suite: Suite,

    /// Only benchmarks whose name contains this (criterion's filter); for `proxy`,
    /// `mesh-proxy` or `envoy` measures only that proxy.
    #[arg(long)]
    filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// The control plane: translating 1,000 services / 10,000 endpoints for one proxy,
    /// a full push to 1,000 ADS clients, and one endpoint change reaching them all.
    Control,
    /// The sidecar (root): direct, one-hop and two-hop paths through mesh-proxy and
    /// Envoy in network namespaces with real capture; latency at 1,000 req/s, max
    /// req/s, CPU per request and RSS. Installs oha and builds release binaries first.
    Proxy,
}

pub(crate) fn run_bench(ws: &Workspace, args: &BenchArgs) -> Result<()> {
    if args.suite == Suite::Proxy {
        require_root()?;
        let step = Step::start("system packages");
        step.finish(system_packages::ensure(system_packages::E2E_TESTS))?;
    }
    tools::install(ws, false)?;
    let env = ToolEnv::new(ws);
    match args.suite {
        Suite::Control => {
            let step = Step::start("bench control");
            let mut cargo = env.cargo();
            cargo
                .current_dir(ws.root())
                .args(["bench", "-p", "mesh-control", "--benches"]);
            if let Some(filter) = &args.filter {
                cargo.args(["--", filter]);
            }
            step.finish(run(&mut cargo).context(
                "the control-plane benchmarks failed; rerun with `cargo bench -p mesh-control` to see their output",
            ))
        }
        Suite::Proxy => bench_proxy(ws, &env, args.filter.as_deref()),
    }
}

/// oha, release builds of the binaries under test, then the bench (`e2e/benches/proxy`).
fn bench_proxy(ws: &Workspace, env: &ToolEnv, filter: Option<&str>) -> Result<()> {
    tools::install_bench_tools(ws)?;
    let step = Step::start("build mesh-proxy, mesh-control, meshctl (release)");
    let mut build = env.cargo();
    build.current_dir(ws.root()).args([
        "build",
        "--release",
        "-p",
        "mesh-proxy",
        "-p",
        "mesh-control",
        "-p",
        "mesh-ctl",
    ]);
    step.finish(run(&mut build))?;
    let step = Step::start("bench proxy");
    let mut cargo = env.cargo();
    cargo
        .current_dir(ws.root())
        .args(["bench", "-p", "e2e", "--bench", "proxy", "--"])
        // The binaries just built, as they are: the bench builds nothing itself.
        .env("MESH_BIN_DIR", ws.root().join("target").join("release"));
    if let Some(filter) = filter {
        cargo.arg(filter);
    }
    step.finish(run(&mut cargo).context(
        "the proxy benchmark failed; its output above says where \
         (rerun one proxy with `cargo xtask bench proxy --filter envoy`)",
    ))
}

/// The proxy bench builds network namespaces and iptables rules: fail before the
/// builds rather than after them.
fn require_root() -> Result<()> {
    if !system_packages::is_root() {
        anyhow::bail!(
            "`cargo xtask bench proxy` needs root (network namespaces, iptables, uid 1337 \
             for the proxies): run it as root, e.g. `sudo -E cargo xtask bench proxy`"
        );
    }
    Ok(())
}
