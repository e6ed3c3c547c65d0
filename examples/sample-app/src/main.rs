//! `mesh-sample-app`: the sample workload of the demo and the tests, and its clients.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use mesh_sample_app::faults::{Faults, parse_duration};
use mesh_sample_app::grpc::EchoRequest;
use mesh_sample_app::grpc::client::GrpcLoad;
use mesh_sample_app::load::{HttpLoad, fetch, parse_header};
use mesh_sample_app::upstream::{Upstreams, parse_upstream};
use mesh_sample_app::{Summary, Workload, grpc, http_server, tcp};
use tokio::net::TcpListener;

/// The mesh's sample workload: serves HTTP/1.1 + h2c (JSON naming the workload and its
/// upstreams' answers), gRPC (`mesh.sample.Echo/Echo`) and a server-first TCP protocol.
/// Without a subcommand it serves; the other subcommands are its clients.
#[derive(Debug, Parser)]
#[command(
    name = "mesh-sample-app",
    about,
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve HTTP, gRPC and TCP (also what runs without a subcommand).
    Serve(ServeArgs),
    /// Send HTTP requests; print answers per workload version, status and call chain,
    /// and latency percentiles.
    Request(RequestArgs),
    /// Print one response body, like `curl -sf` (for health and admin endpoints).
    /// Exit status 22 on an HTTP error status, 7 when nothing answered.
    Get(GetArgs),
    /// Call `mesh.sample.Echo/Echo`; one call prints the reply, more print a summary.
    Grpc(GrpcArgs),
    /// Connect, print the server's banner, then send each `--send` line and print its echo.
    Tcp(TcpArgs),
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// The application's name (Istio's `app` label).
    #[arg(long, env = "MESH_SAMPLE_NAME", default_value = "sample")]
    name: String,
    /// The application's version (Istio's `version` label).
    #[arg(long = "version", env = "MESH_SAMPLE_VERSION", default_value = "v1")]
    app_version: String,
    /// The namespace, as the downward API gives it.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    namespace: String,
    /// The pod (instance) name; defaults to the application's name.
    #[arg(long, env = "POD_NAME")]
    pod: Option<String>,
    /// The pod's IP, reported in answers.
    #[arg(long, env = "POD_IP", default_value = "")]
    ip: String,
    /// Address to listen on.
    #[arg(long, env = "MESH_SAMPLE_BIND", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// HTTP/1.1 and h2c port.
    #[arg(long, env = "MESH_SAMPLE_HTTP_PORT", default_value_t = 9080)]
    http_port: u16,
    /// gRPC port.
    #[arg(long, env = "MESH_SAMPLE_GRPC_PORT", default_value_t = 9090)]
    grpc_port: u16,
    /// Server-first TCP port (banner `HELLO <name> <version>`, then line echo).
    #[arg(long, env = "MESH_SAMPLE_TCP_PORT", default_value_t = 9000)]
    tcp_port: u16,
    /// Upstream called on every HTTP request, its answer included (repeatable;
    /// comma-separated in the environment).
    #[arg(long = "upstream", env = "MESH_SAMPLE_UPSTREAMS", value_delimiter = ',', value_parser = parse_upstream)]
    upstreams: Vec<Uri>,
    /// Give up on an upstream after this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    upstream_timeout: Duration,
    /// Fraction of answers (0-1) that fail with --fail-status; deterministic, so 0.25
    /// fails exactly every fourth answer.
    #[arg(long, env = "MESH_SAMPLE_FAIL_RATE", default_value_t = 0.0)]
    fail_rate: f64,
    /// The status failing answers get.
    #[arg(long, env = "MESH_SAMPLE_FAIL_STATUS", default_value_t = 503)]
    fail_status: u16,
    /// Delay every HTTP answer by this long (e.g. 100ms).
    #[arg(long, env = "MESH_SAMPLE_DELAY", default_value = "0ms", value_parser = parse_duration)]
    delay: Duration,
}

#[derive(Debug, Args)]
struct RequestArgs {
    /// e.g. http://frontend:9080/ (`?status=503`, `?delay=100ms` pass to the server).
    url: Uri,
    /// Number of requests.
    #[arg(short = 'n', long, default_value_t = 1)]
    count: u64,
    /// Requests in flight at once.
    #[arg(short, long, default_value_t = 1)]
    concurrency: usize,
    /// Extra request header, `name:value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    #[arg(short = 'X', long, default_value = "GET")]
    method: Method,
    /// HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct GetArgs {
    url: Uri,
    /// Extra request header, `name:value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
}

#[derive(Debug, Args)]
struct GrpcArgs {
    /// `host:port`, e.g. ratings:9090.
    target: String,
    #[arg(long, default_value = "hello")]
    message: String,
    /// Ask the server to fail with this gRPC status (e.g. 14 UNAVAILABLE).
    #[arg(long, default_value_t = 0)]
    fail_code: i32,
    /// Extra request metadata, `name:value` (repeatable).
    #[arg(short = 'H', long = "header", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    #[arg(short = 'n', long, default_value_t = 1)]
    count: u64,
    #[arg(short, long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the summary as JSON (also for a single call).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TcpArgs {
    /// `host:port`, e.g. ratings:9000.
    target: String,
    /// A line to send after the banner (repeatable).
    #[arg(long = "send")]
    lines: Vec<String>,
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-sample-app: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            None => serve(cli.serve).await,
            Some(Command::Serve(args)) => serve(args).await,
            Some(Command::Request(args)) => request(args).await,
            Some(Command::Get(args)) => get(args).await,
            Some(Command::Grpc(args)) => grpc_call(args).await,
            Some(Command::Tcp(args)) => tcp_talk(args).await,
        }
    });
    outcome.unwrap_or_else(|e| {
        eprintln!("mesh-sample-app: {e:#}");
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let workload = Workload {
        pod: args.pod.clone().unwrap_or_else(|| args.name.clone()),
        name: args.name,
        version: args.app_version,
        namespace: args.namespace,
        ip: args.ip,
    };
    let faults =
        Faults::new(args.fail_rate, args.fail_status, args.delay).map_err(anyhow::Error::msg)?;
    let upstreams = Upstreams::new(args.upstreams.clone(), args.upstream_timeout);
    let bind = |port: u16, what: &'static str| async move {
        let addr = SocketAddr::new(args.bind, port);
        TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen for {what} on {addr}; choose another port with --{what}-port")
        })
    };
    let http = bind(args.http_port, "http").await?;
    let grpc = bind(args.grpc_port, "grpc").await?;
    let tcp = bind(args.tcp_port, "tcp").await?;
    eprintln!(
        "mesh-sample-app: {} ({}) serving http {} grpc {} tcp {}; upstreams {:?}",
        workload.key(),
        workload.pod,
        args.http_port,
        args.grpc_port,
        args.tcp_port,
        args.upstreams
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    let app = Arc::new(http_server::HttpApp::new(
        workload.clone(),
        faults,
        upstreams,
    ));
    tokio::spawn(http_server::serve(http, app));
    tokio::spawn(grpc::serve(grpc, workload.clone()));
    tokio::spawn(tcp::serve(tcp, workload));
    shutdown_signal().await;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
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
}

async fn request(args: RequestArgs) -> Result<ExitCode> {
    let load = HttpLoad {
        url: args.url,
        method: args.method,
        headers: args.headers,
        count: args.count,
        concurrency: args.concurrency,
        http2: args.http2,
        timeout: args.timeout,
    };
    let summary = load.run().await;
    print_summary(&summary, args.json)
}

fn print_summary(summary: &Summary, json: bool) -> Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string(summary)?);
    } else {
        print!("{summary}");
    }
    // Answers of any status are a completed run; nothing answering at all is not.
    let answered = summary.requests - summary.status_count("error");
    Ok(if answered > 0 || summary.requests == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn get(args: GetArgs) -> Result<ExitCode> {
    match fetch(&args.url, &args.headers, args.timeout).await {
        Ok((status, body)) => {
            print!("{}", String::from_utf8_lossy(&body));
            Ok(if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                eprintln!("mesh-sample-app: GET {}: HTTP {status}", args.url);
                ExitCode::from(22)
            })
        }
        Err(e) => {
            eprintln!("mesh-sample-app: {e}");
            Ok(ExitCode::from(7))
        }
    }
}

async fn grpc_call(args: GrpcArgs) -> Result<ExitCode> {
    let load = GrpcLoad {
        target: args.target,
        request: EchoRequest {
            message: args.message,
            fail_code: args.fail_code,
        },
        headers: args.headers,
        count: args.count,
        concurrency: args.concurrency,
        timeout: args.timeout,
    };
    if args.count != 1 || args.json {
        let summary = load.run().await.map_err(anyhow::Error::msg)?;
        return print_summary(&summary, args.json);
    }
    let call = load.call_once().await.map_err(anyhow::Error::msg)?;
    let reply = call.reply.map(|r| {
        serde_json::json!({
            "name": r.name, "version": r.version, "namespace": r.namespace,
            "pod": r.pod, "message": r.message, "metadata": r.metadata,
        })
    });
    let printed = serde_json::json!({
        "grpc_status": call.code, "grpc_message": call.message, "reply": reply,
    });
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(if call.code == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn tcp_talk(args: TcpArgs) -> Result<ExitCode> {
    let session = tcp::talk(&args.target, &args.lines, args.timeout)
        .await
        .map_err(anyhow::Error::msg)?;
    println!("{}", session.banner);
    for echo in session.echoes {
        println!("{echo}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
