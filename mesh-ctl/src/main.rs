//! `meshctl`: the command-line tool of mesh (the istioctl role).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;
mod bootstrap;
mod debug_client;
mod inject;
mod output;
mod proxy_config;
mod proxy_status;
mod token;

/// Command-line tool of mesh, a service mesh compatible with Istio's configuration.
#[derive(Debug, Parser)]
#[command(name = "meshctl", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate mesh configuration offline and find config that is valid but wrong.
    Analyze(analyze::AnalyzeArgs),
    /// Print proxy bootstraps (`meshctl bootstrap envoy`).
    Bootstrap(bootstrap::BootstrapArgs),
    /// Inject the mesh sidecar into Kubernetes workloads, offline (istioctl kube-inject).
    Inject(inject::InjectArgs),
    /// Show the sync state (SYNCED, NOT SENT, STALE, NACKED) of every connected proxy.
    #[command(name = "proxy-status", visible_alias = "ps")]
    ProxyStatus(proxy_status::ProxyStatusArgs),
    /// Show the listeners, routes, clusters or endpoints sent to one proxy.
    #[command(name = "proxy-config", visible_alias = "pc")]
    ProxyConfig(proxy_config::ProxyConfigArgs),
    /// Create workload tokens (`meshctl token create`), a proxy's proof of identity.
    Token(token::TokenArgs),
    /// Print meshctl's version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Bootstrap(args) => bootstrap::run(&args),
        Command::Inject(args) => inject::run(&args),
        Command::ProxyStatus(args) => proxy_status::run(&args),
        Command::ProxyConfig(args) => proxy_config::run(&args),
        Command::Token(args) => token::run(&args),
        Command::Version => {
            println!("meshctl {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
