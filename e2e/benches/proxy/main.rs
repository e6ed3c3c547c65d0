//! `cargo xtask bench proxy`: what a sidecar adds to a request, mesh-proxy against
//! Envoy 1.40, on a real capture path.
//!
//! Two pods (network namespaces) on a bridge, the server pod's app a minimal hyper
//! server answering 1 KiB, `oha` in the client pod. Paths: direct (client to the
//! server's pod IP, no rules, no proxy), one-hop (client pod captured by `mesh-proxy
//! redirect`, its sidecar calls the server) and two-hop (both pods captured), each
//! with mesh-proxy and with Envoy as the sidecars, both configured by the same
//! mesh-control; then two-hop with mTLS between the sidecars (certificates from
//! mesh-control's CA; Envoy's through `mesh-proxy agent`), and the same with one
//! request per sidecar-to-sidecar connection (`maxRequestsPerConnection: 1`): its max
//! req/s is full handshakes per second. Each path: a warm-up, then 1,000 req/s latency-corrected (latency,
//! proxies' CPU and RSS from `/proc`), then unthrottled (max req/s).
//!
//! Needs root (namespaces, iptables), `setpriv`, `curl`, oha and Envoy from
//! `cargo xtask tools`, release builds of mesh-proxy, mesh-control and meshctl: run
//! it with `cargo xtask bench proxy`, which installs and builds all that. An argument
//! `mesh-proxy` or `envoy` measures only that proxy (the direct path always runs).
//! `MESH_BENCH_LATENCY_SECS`, `MESH_BENCH_THROUGHPUT_SECS`, `MESH_BENCH_WARMUP_SECS`
//! shorten the runs while working on the bench.

mod load;
mod net;
mod report;
mod server;
mod sidecar;

use std::fs;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use e2e::tools;

use crate::load::{LoadGenerator, LoadSettings};
use crate::net::{CLIENT_IP, Netns, SERVER_IP, Topology, path_str};
use crate::report::{PathKind, PathResult, Report};
use crate::sidecar::{Binaries, ProxyKind, SERVICE_URL, SidecarSettings, Workload};

const CLIENT: Workload = Workload {
    name: "client-0",
    ip: CLIENT_IP,
    labels: "app=bench-client",
    service_account: "bench-client",
};
const SERVER: Workload = Workload {
    name: "server-0",
    ip: SERVER_IP,
    labels: "app=bench-server",
    service_account: "bench-server",
};
const READY_WITHIN: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(server::ROLE) {
        return server::main(&args[1..]);
    }
    // `cargo bench` passes `--bench`; a plain argument is a proxy filter.
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    if let Err(e) = preflight() {
        eprintln!("bench proxy: {e}");
        return ExitCode::FAILURE;
    }
    clean_up_on_ctrl_c();
    match run(filter.as_deref()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench proxy FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(filter: Option<&str>) -> Result<(), String> {
    let proxies: Vec<ProxyKind> = [ProxyKind::MeshProxy, ProxyKind::Envoy]
        .into_iter()
        .filter(|k| filter.is_none_or(|f| k.name().contains(f)))
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let load_before = load_average();
    let bin = binaries()?;
    let settings = SidecarSettings {
        concurrency: cores,
        mesh_log: std::env::var("MESH_BENCH_PROXY_LOG")
            .unwrap_or_else(|_| "info,access=warn".to_string()),
    };
    let load_settings = LoadSettings {
        rate: 1000,
        connections: 16,
        body_bytes: 1024,
        warmup: secs_from_env("MESH_BENCH_WARMUP_SECS", 3)?,
        latency: secs_from_env("MESH_BENCH_LATENCY_SECS", 15)?,
        throughput: secs_from_env("MESH_BENCH_THROUGHPUT_SECS", 10)?,
    };

    let topology = Topology::create()?;
    let dir = tempfile::Builder::new()
        .prefix("mesh-bench-proxy")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    // uid 1337 reads Envoy's bootstrap from here.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", dir.path().display()))?;
    let body = dir.path().join("body");
    fs::write(&body, vec![b'x'; load_settings.body_bytes]).map_err(|e| format!("body: {e}"))?;
    let loader = LoadGenerator {
        oha: tools_dir().join("oha"),
        body,
        dir: dir.path().to_path_buf(),
        clock_ticks: load::clock_ticks(),
    };

    step("starting the server pod's app and mesh-control");
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let server_addr = "0.0.0.0:8080";
    let _server = topology.server.spawn(
        "bench server",
        &[path_str(&exe)?, server::ROLE, server_addr],
        false,
        &[],
        &dir.path().join("server.log"),
    )?;
    let _control = sidecar::start_control_plane(&topology.node, &bin, dir.path())?;
    let direct_url = format!("http://{SERVER_IP}:8080/");
    topology.client.wait_http_ok(&direct_url, READY_WITHIN)?;

    let mut results = Vec::new();
    step("direct: client -> server, no proxy");
    let figures = loader.measure(&topology.client, &direct_url, &load_settings, &mut [])?;
    results.push(done(PathResult::new(None, PathKind::Direct, figures)));

    redirect(&topology.client, &bin)?;
    for &kind in &proxies {
        step(format_args!("{kind} one-hop: client -> {kind} -> server"));
        let mut client = sidecar::start_sidecar(
            kind,
            &topology.client,
            CLIENT,
            &bin,
            &settings,
            dir.path(),
            None,
        )?;
        topology.client.wait_http_ok(SERVICE_URL, READY_WITHIN)?;
        let figures = loader.measure(
            &topology.client,
            SERVICE_URL,
            &load_settings,
            &mut [&mut client.proxy],
        )?;
        results.push(done(PathResult::new(Some(kind), PathKind::OneHop, figures)));
    }

    redirect(&topology.server, &bin)?;
    let ca_dir = sidecar::ca_dir(dir.path());
    let mtls = sidecar::Mtls {
        node: &topology.node,
        ca_dir: &ca_dir,
    };
    for path in [
        PathKind::TwoHop,
        PathKind::TwoHopMtls,
        PathKind::NewConnectionsMtls,
    ] {
        let identity = (path != PathKind::TwoHop).then_some(mtls);
        if path == PathKind::NewConnectionsMtls {
            sidecar::new_connection_per_request(dir.path(), true)?;
        }
        for &kind in &proxies {
            step(format_args!(
                "{kind} {}: client -> {kind} -> {kind} -> server",
                path.name()
            ));
            // Fresh sidecars: pooled connections from the one-hop run were made before
            // the server's rules and would bypass its sidecar.
            let mut server = sidecar::start_sidecar(
                kind,
                &topology.server,
                SERVER,
                &bin,
                &settings,
                dir.path(),
                identity,
            )?;
            let mut client = sidecar::start_sidecar(
                kind,
                &topology.client,
                CLIENT,
                &bin,
                &settings,
                dir.path(),
                identity,
            )?;
            topology.client.wait_http_ok(SERVICE_URL, READY_WITHIN)?;
            let figures = loader.measure(
                &topology.client,
                SERVICE_URL,
                &load_settings,
                &mut [&mut client.proxy, &mut server.proxy],
            )?;
            if figures.proxies.get(1).is_some_and(|p| p.cpu_ms < 1.0) {
                eprintln!("    warning: the inbound sidecar used no CPU: was it on the path?");
            }
            if identity.is_some() {
                check_mtls(&topology.server, kind)?;
            }
            results.push(done(PathResult::new(Some(kind), path, figures)));
        }
    }

    let comparisons = report::complete(&mut results);
    let report = Report {
        date: net::run("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
            .map(|d| d.trim().to_string())
            .unwrap_or_default(),
        load_average_before: load_before,
        load_average_after: load_average(),
        cores,
        concurrency: settings.concurrency,
        load: load_settings,
        results,
        comparisons,
    };
    print!("{}", report::render(&report));
    let json = tools::workspace_root().join("target/bench/proxy.json");
    report::write_json(&report, &json)?;
    println!("\nwritten to {}", json.display());
    Ok(())
}

/// The server's sidecar must have terminated mTLS: its admin counts the handshakes
/// (a plaintext path would measure nothing of TLS).
fn check_mtls(server: &Netns, kind: ProxyKind) -> Result<(), String> {
    let stats = server.exec(&["curl", "-s", "http://127.0.0.1:15000/stats"])?;
    let handshakes: u64 = stats
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(n, _)| n.starts_with("listener.") && n.ends_with("ssl.handshake"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum();
    if handshakes == 0 {
        return Err(format!(
            "{kind}: the server sidecar terminated no TLS: the mTLS path ran in plain text"
        ));
    }
    Ok(())
}

/// Root, and the programs the bench runs; what is missing and how to get it.
fn preflight() -> Result<(), String> {
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .map_err(|e| format!("cannot read /proc/self: {e}"))?;
    if uid != 0 {
        return Err(
            "needs root: it creates network namespaces, a bridge and iptables \
             rules and runs the proxies as uid 1337; run `sudo -E cargo xtask bench proxy`"
                .to_string(),
        );
    }
    for program in [
        "ip",
        "iptables",
        "iptables-restore",
        "setpriv",
        "curl",
        "getconf",
    ] {
        if net::run("sh", &["-c", &format!("command -v {program}")]).is_err() {
            return Err(format!(
                "needs `{program}` on PATH (iproute2, iptables, util-linux, curl)"
            ));
        }
    }
    for tool in ["oha", "envoy"] {
        if !tools_dir().join(tool).is_file() {
            return Err(format!(
                "needs {tool} in {}: run it as `cargo xtask bench proxy`, which installs it",
                tools_dir().display()
            ));
        }
    }
    Ok(())
}

fn binaries() -> Result<Binaries, String> {
    let envoy = tools::envoy().ok_or("Envoy is not installed: run `cargo xtask tools`")?;
    Ok(Binaries {
        mesh_control: tools::mesh_control(),
        mesh_proxy: tools::mesh_proxy(),
        meshctl: tools::meshctl(),
        envoy,
    })
}

/// `target/tools/bin`, or `MESH_TOOLS_DIR` as `cargo xtask` sets it.
fn tools_dir() -> PathBuf {
    std::env::var_os("MESH_TOOLS_DIR").map_or_else(
        || tools::workspace_root().join("target/tools/bin"),
        PathBuf::from,
    )
}

/// `mesh-proxy redirect` in a pod: Istio's istio-init rules, the proxy's uid exempt.
fn redirect(pod: &Netns, bin: &Binaries) -> Result<(), String> {
    pod.exec(&[path_str(&bin.mesh_proxy)?, "redirect"])
        .map(drop)
        .map_err(|e| format!("mesh-proxy redirect in {}: {e}", pod.name()))
}

/// Ctrl-C skips the drop guards: remove the namespaces (and all in them) first.
fn clean_up_on_ctrl_c() {
    std::thread::spawn(|| {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        if runtime.block_on(tokio::signal::ctrl_c()).is_ok() {
            eprintln!("\ninterrupted: removing the bench's namespaces");
            net::sweep();
            std::process::exit(130);
        }
    });
}

fn step(what: impl std::fmt::Display) {
    println!("==> {what}");
}

/// Prints a measured path's headline figures and passes it on.
fn done(result: PathResult) -> PathResult {
    let f = &result.figures;
    let mut line = format!(
        "    p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms at {:.0} req/s; max {:.0} req/s",
        f.fixed_rate.p50_ms,
        f.fixed_rate.p99_ms,
        f.fixed_rate.p999_ms,
        f.fixed_rate.req_per_sec,
        f.max_rate.req_per_sec
    );
    for p in &f.proxies {
        line += &format!(
            "; {} {:.1} MiB, {:.0} ms CPU",
            p.name, p.rss_max_mib, p.cpu_ms
        );
    }
    println!("{line}");
    let errors = f.fixed_rate.errors + f.max_rate.errors;
    if errors > 0 {
        println!(
            "    {errors} errors: {:?} {:?}",
            f.fixed_rate.errors_seen, f.max_rate.errors_seen
        );
    }
    result
}

fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn secs_from_env(name: &str, default: u64) -> Result<Duration, String> {
    match std::env::var(name) {
        Ok(v) => v
            .parse::<f64>()
            .ok()
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{name}={v}: want a number of seconds")),
        Err(_) => Ok(Duration::from_secs(default)),
    }
}
