//! `mesh-proxy`: the sidecar data plane of mesh.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mesh_proxy::RunConfig;
use mesh_proxy::admin::LogLevels;
use mesh_proxy::agent::{self, AgentArgs};
use mesh_proxy::identity::IdentityArgs;
use mesh_proxy::node::{NodeMetadata, ProxyType, parse_labels, parse_workload};
use mesh_proxy::redirect::{self, RedirectArgs};
use mesh_proxy::wait::WaitArgs;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, reload};

/// mimalloc: the per-request allocations cost less than with glibc's malloc (~5% of
/// the proxy's CPU went to it). Built with `no_thp`: without, it asks for transparent
/// huge pages for its arenas and the proxy's RSS at 1,000 req/s rose from 9 to 23 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The mesh sidecar proxy (the Envoy / linkerd2-proxy role): takes its config from
/// mesh-control over ADS (Delta, or State of the World) and proxies HTTP, gRPC and
/// TCP as Envoy would from the same config.
#[derive(Debug, Parser)]
#[command(name = "mesh-proxy", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the sidecar for one workload.
    Run(Box<RunArgs>),
    /// Get the workload certificate for a real Envoy and serve it over SDS on a Unix
    /// socket (Istio's pilot-agent).
    Agent(AgentArgs),
    /// Capture the pod's traffic to the proxy with iptables (Istio's istio-init).
    Redirect(RedirectArgs),
    /// Wait until the proxy of this pod is ready (the postStart hook of
    /// holdApplicationUntilProxyStarts; pilot-agent's `wait`).
    Wait(WaitArgs),
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
    /// Prometheus endpoint (`/stats/prometheus`).
    #[arg(long, env = "MESH_METRICS_ADDRESS", default_value = "0.0.0.0:15090")]
    metrics_address: SocketAddr,
    /// Status endpoint: the app probes rewritten by injection
    /// (`/app-health/<container>/livez|readyz|startupz`) and `POST /quitquitquit`.
    #[arg(long, env = "MESH_STATUS_ADDRESS", default_value = "0.0.0.0:15020")]
    status_address: SocketAddr,
    /// The apps' original probes, as JSON (Istio's ISTIO_KUBE_APP_PROBERS shape);
    /// written by the injector.
    #[arg(long, env = "MESH_KUBE_APP_PROBERS", default_value = "", hide = true)]
    app_probers: String,
    /// How long SIGTERM waits for open connections to finish (Istio's
    /// terminationDrainDuration), e.g. 5s, 500ms, 1m.
    #[arg(long, env = "MESH_DRAIN_DURATION", default_value = "5s", value_parser = mesh_api::duration::parse_std)]
    drain_duration: Duration,
    /// Worker threads, each with its own listeners and upstream connections (Envoy's
    /// --concurrency; Istio's proxy default is 2). 0 means one per CPU core.
    #[arg(long, env = "MESH_CONCURRENCY", default_value_t = 2, value_name = "N")]
    concurrency: usize,
    /// The cluster id reported in the node metadata (Istio's CLUSTER_ID).
    #[arg(long, env = "MESH_CLUSTER_ID", default_value = "Kubernetes")]
    cluster_id: String,
    /// The cluster's DNS domain.
    #[arg(long, env = "MESH_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
    /// What the proxy is to the control plane: a workload's sidecar, or a gateway
    /// (`router`, Istio's node type for ingress and egress gateways).
    #[arg(long, env = "MESH_PROXY_TYPE", value_enum, default_value = "sidecar")]
    proxy_type: ProxyType,
    #[command(flatten)]
    identity: IdentityArgs,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run(&args),
        Command::Agent(args) => run_agent(&args),
        Command::Redirect(args) => redirect(&args),
        Command::Wait(args) => wait(&args),
    }
}

fn wait(args: &WaitArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-proxy wait: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mesh_proxy::wait::wait(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-proxy wait: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_agent(args: &AgentArgs) -> ExitCode {
    init_logging();
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mesh-proxy agent: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-proxy agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(agent::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-proxy agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn redirect(args: &RedirectArgs) -> ExitCode {
    let request = match args.request() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mesh-proxy redirect: {e}");
            return ExitCode::from(2);
        }
    };
    match redirect::run(&request) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mesh-proxy redirect: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &RunArgs) -> ExitCode {
    let log_levels = init_logging();
    let config = match run_config(args) {
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
    // The control side (xDS, admin, DNS) is light: one thread. The data path runs on
    // the workers (`mesh_proxy::worker`).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(mesh_proxy::run(config, log_levels)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_config(args: &RunArgs) -> Result<RunConfig, String> {
    let (pod, namespace) = parse_workload(&args.workload)?;
    let identity = args
        .identity
        .config(&args.xds_address, &namespace, &args.service_account)?;
    Ok(RunConfig {
        xds_address: args.xds_address.clone(),
        node: NodeMetadata {
            proxy_type: args.proxy_type,
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
        metrics_address: args.metrics_address,
        status_address: args.status_address,
        app_probers: mesh_proxy::status::parse_app_probers(&args.app_probers)
            .map_err(|e| format!("MESH_KUBE_APP_PROBERS: {e}"))?,
        drain_duration: args.drain_duration,
        concurrency: match args.concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        },
        identity,
    })
}

/// Logs to stderr with the `MESH_LOG` filter, behind a reload handle so that the
/// admin interface can change it (`POST /logging`). The default has no access log,
/// as Istio's default profile (`accessLogFile` unset): a line per request costs.
const DEFAULT_LOG: &str = "info,access=warn";

fn init_logging() -> Arc<LogLevels> {
    let initial = std::env::var("MESH_LOG")
        .ok()
        .filter(|f| EnvFilter::try_new(f).is_ok())
        .unwrap_or_else(|| DEFAULT_LOG.to_string());
    let (filter, handle) = reload::Layer::new(EnvFilter::new(&initial));
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer())
        .init();
    Arc::new(LogLevels::new(&initial, move |directives| {
        let filter = EnvFilter::try_new(directives).map_err(|e| format!("`{directives}`: {e}"))?;
        handle
            .reload(filter)
            .map_err(|e| format!("cannot change the log filter: {e}"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_durations_are_read_as_istio_writes_them() {
        let drain = |d: &str| {
            Cli::try_parse_from([
                "mesh-proxy",
                "run",
                "--xds-address",
                "127.0.0.1:15010",
                "--workload",
                "a.b",
                "--ip",
                "10.0.0.1",
                "--drain-duration",
                d,
            ])
            .map(|cli| match cli.command {
                Command::Run(args) => args.drain_duration,
                Command::Agent(_) | Command::Redirect(_) | Command::Wait(_) => Duration::ZERO,
            })
        };
        assert_eq!(drain("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(drain("1m30s").ok(), Some(Duration::from_secs(90)));
        let bare = drain("2").expect_err("a bare number has no unit");
        assert!(bare.to_string().contains("unit"), "{bare}");
        assert!(drain("5d").is_err());
    }

    fn run_args(extra: &[&str]) -> Result<RunArgs, clap::Error> {
        let base = [
            "mesh-proxy",
            "run",
            "--xds-address",
            "10.0.0.5:15012",
            "--workload",
            "reviews-0.shop",
            "--ip",
            "10.0.0.1",
            "--service-account",
            "reviews",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra))?;
        match cli.command {
            Command::Run(args) => Ok(*args),
            _ => unreachable!("a run command"),
        }
    }

    #[test]
    fn root_cert_and_token_file_give_the_proxy_its_identity() {
        let plain = run_config(&run_args(&[]).expect("parses")).expect("a config");
        assert!(
            plain.identity.is_none(),
            "no --root-cert: plaintext, no identity"
        );
        let args = run_args(&["--root-cert", "root.pem", "--token-file", "token"]).expect("parses");
        let identity = run_config(&args)
            .expect("a config")
            .identity
            .expect("an identity");
        assert_eq!(
            identity.id.to_string(),
            "spiffe://cluster.local/ns/shop/sa/reviews"
        );
        assert_eq!(
            identity.ca_address, "10.0.0.5:15012",
            "Istio's CA_ADDR default"
        );
        assert_eq!(identity.cert_ttl, Duration::from_secs(86_400));
        let args = run_args(&[
            "--root-cert",
            "root.pem",
            "--token-file",
            "token",
            "--trust-domain",
            "example.org",
            "--ca-address",
            "ca.example.org:15012",
            "--cert-ttl",
            "10m",
        ])
        .expect("parses");
        let identity = run_config(&args).expect("a config").identity.expect("one");
        assert_eq!(identity.id.trust_domain, "example.org");
        assert_eq!(identity.ca_address, "ca.example.org:15012");
        assert_eq!(identity.cert_ttl, Duration::from_secs(600));
    }

    #[test]
    fn a_root_cert_without_a_token_or_a_token_without_a_root_is_refused() {
        for extra in [
            &["--root-cert", "root.pem"][..],
            &["--token-file", "token"][..],
        ] {
            let error = run_args(extra).expect_err("needs both");
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::MissingRequiredArgument
            );
        }
        let args = run_args(&["--root-cert", "r", "--token-file", "t", "--cert-ttl", "10s"])
            .expect("parses");
        let error = run_config(&args).expect_err("too short");
        assert!(error.contains("--cert-ttl"), "{error}");
    }
}
