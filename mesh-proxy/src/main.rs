//! `mesh-proxy`: the sidecar data plane of mesh.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mesh_proxy::RunConfig;
use mesh_proxy::identity::{ProxyIdentity, parse_labels, parse_workload};

/// The mesh sidecar proxy (the Envoy / linkerd2-proxy role): takes its config from
/// mesh-control over Delta ADS and proxies HTTP as the routes say.
#[derive(Debug, Parser)]
#[command(name = "mesh-proxy", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sidecar for one workload.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The control plane's xDS address.
    #[arg(long, env = "MESH_XDS_ADDRESS", value_name = "HOST:PORT")]
    xds_address: String,
    /// The workload this sidecar serves, as NAME.NAMESPACE.
    #[arg(long, env = "MESH_WORKLOAD", value_name = "NAME.NAMESPACE")]
    workload: String,
    /// The workload's IP address.
    #[arg(long, env = "MESH_IP", value_name = "IP")]
    ip: IpAddr,
    /// The workload's service account.
    #[arg(long, env = "MESH_SERVICE_ACCOUNT", default_value = "default")]
    service_account: String,
    /// The workload's labels, as k=v,k2=v2.
    #[arg(long, env = "MESH_LABELS", value_name = "K=V,...", default_value = "")]
    labels: String,
    /// Admin interface (keep it on localhost).
    #[arg(long, env = "MESH_ADMIN_ADDRESS", default_value = "127.0.0.1:15000")]
    admin_address: SocketAddr,
    /// Health endpoint (`/healthz/ready`).
    #[arg(long, env = "MESH_HEALTH_ADDRESS", default_value = "0.0.0.0:15021")]
    health_address: SocketAddr,
    /// The cluster id reported in the node metadata (Istio's CLUSTER_ID).
    #[arg(long, env = "MESH_CLUSTER_ID", default_value = "Kubernetes")]
    cluster_id: String,
    /// The cluster's DNS domain.
    #[arg(long, env = "MESH_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Run(args) = cli.command;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match run_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesh-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        println!(
            "{}",
            serde_json::to_string_pretty(&config).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mesh_proxy::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_config(args: &RunArgs) -> Result<RunConfig, String> {
    let (pod, namespace) = parse_workload(&args.workload)?;
    Ok(RunConfig {
        xds_address: args.xds_address.clone(),
        identity: ProxyIdentity {
            pod,
            namespace,
            ip: args.ip,
            service_account: args.service_account.clone(),
            labels: parse_labels(&args.labels)?,
            cluster_id: args.cluster_id.clone(),
            cluster_domain: args.cluster_domain.clone(),
        },
        admin_address: args.admin_address,
        health_address: args.health_address,
    })
}
