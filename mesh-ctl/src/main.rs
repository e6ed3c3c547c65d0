//! `meshctl`: the command-line tool of mesh (the istioctl role).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;
mod bootstrap;
mod cluster;
mod debug_client;
#[cfg(test)]
mod fake_api;
mod inject;
mod install;
mod output;
mod port_forward;
mod precheck;
mod proxy_config;
mod proxy_status;
mod token;
mod version;

/// Command-line tool of mesh, a service mesh compatible with Istio's configuration.
#[derive(Debug, Parser)]
#[command(name = "meshctl", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    cluster: cluster::ClusterArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate mesh configuration (files or the live cluster) and find config that is
    /// valid but wrong.
    Analyze(analyze::AnalyzeArgs),
    /// Print proxy bootstraps (`meshctl bootstrap envoy`).
    Bootstrap(bootstrap::BootstrapArgs),
    /// Inject the mesh sidecar into Kubernetes workloads, offline (istioctl kube-inject).
    Inject(inject::InjectArgs),
    /// Install mesh on the cluster with Helm (mesh-base, mesh-control, the gateway).
    Install(install::InstallArgs),
    /// Uninstall mesh from the cluster (keeps the CRDs and the config in them).
    Uninstall(install::UninstallArgs),
    /// Check that the cluster is ready for `meshctl install`.
    Precheck(precheck::PrecheckArgs),
    /// Show the sync state (SYNCED, NOT SENT, STALE, NACKED) of every connected proxy.
    #[command(name = "proxy-status", visible_alias = "ps")]
    ProxyStatus(proxy_status::ProxyStatusArgs),
    /// Show the listeners, routes, clusters or endpoints sent to one proxy.
    #[command(name = "proxy-config", visible_alias = "pc")]
    ProxyConfig(proxy_config::ProxyConfigArgs),
    /// Create workload tokens (`meshctl token create`), a proxy's proof of identity.
    Token(token::TokenArgs),
    /// Print the versions of meshctl, the control plane and the proxies.
    Version(version::VersionArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args, &cli.cluster),
        Command::Bootstrap(args) => bootstrap::run(&args),
        Command::Inject(args) => inject::run(&args),
        Command::Install(args) => install::run_install(&args, &cli.cluster),
        Command::Uninstall(args) => install::run_uninstall(&args, &cli.cluster),
        Command::Precheck(args) => precheck::run(&args, &cli.cluster),
        Command::ProxyStatus(args) => proxy_status::run(&args, &cli.cluster),
        Command::ProxyConfig(args) => proxy_config::run(&args, &cli.cluster),
        Command::Token(args) => token::run(&args, &cli.cluster),
        Command::Version(args) => version::run(&args, &cli.cluster),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// Global flags (`-n`, `--context`) must not clash with any command's own.
    #[test]
    fn flags_do_not_clash() {
        Cli::command().debug_assert();
    }
}
