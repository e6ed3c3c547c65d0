//! Pushes to 1,000 proxies: 1,000 in-process SotW ADS clients that behave like Envoy
//! (subscribe to CDS and LDS, then to the EDS and RDS names those carry, ACK every
//! response) against the ADS server with the real translator, over loopback gRPC.
//!
//! - connect and sync: every proxy connects; time until all have ACKed every type;
//! - full push: a service is added or removed; time until every proxy has ACKed
//!   every type for the new config;
//! - endpoint change: one endpoint is added or removed; time until every proxy has
//!   ACKed the new endpoints.
//!
//! The push debounce is 0 here: the figures are the push itself; add
//! `--push-debounce` for the end-to-end delay. Sizes: `MESH_BENCH_SERVICES` (a
//! comma-separated list, default `100,1000`: 100 services / 1,000 endpoints, then
//! 1,000 services / 10,000 endpoints), `MESH_BENCH_PROXIES` (default 1,000),
//! `MESH_BENCH_ROUNDS` (pushes of each kind, default 3).
//!
//! The control plane runs in a process of its own (this bench, run again with
//! `MESH_BENCH_ROLE=server`), so that its RSS is its own: model, translations,
//! connections and their buffers, without the 1,000 clients. The parent drives it
//! over stdin/stdout and runs the clients. `MESH_BENCH_SERVER_WRAPPER=heaptrack`
//! runs it under a memory profiler.
//!
//! Not criterion: one push to 1,000 proxies takes long enough to time on its own,
//! and criterion's minimum of ten samples per figure would take minutes at 1,000
//! services.
//!
//! `cargo bench -p mesh-control --bench push`

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use mesh_api::manifest::parse_file;
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_control::config::ConfigSnapshot;
use mesh_control::xds::node::ProxyNode;
use mesh_control::xds::server::{AdsServer, Registry, SyncState, SyncStatus, XdsType};
use prost::Message;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Command, Stdio};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// The allocator of the `mesh-control` binary, so that RSS is what it would be.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAMESPACE: &str = "bench";
/// ADS streams per HTTP/2 connection, below the server's concurrent-stream limit.
const STREAMS_PER_CONNECTION: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(600);

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `services` services with 10 endpoints each; `extra_service` adds one more, and
/// `extra_endpoint` one more endpoint to the first service.
fn snapshot(
    version: u64,
    services: usize,
    extra_service: bool,
    extra_endpoint: bool,
) -> Arc<ConfigSnapshot> {
    let mut text = String::new();
    let count = services + usize::from(extra_service);
    for s in 0..count {
        let (hi, lo) = (s / 250, s % 250);
        let _ = write!(
            text,
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{s}, namespace: {NAMESPACE}}}\n\
             spec:\n  clusterIP: 10.96.{hi}.{lo}\n  selector: {{app: svc-{s}}}\n  \
             ports: [{{name: http, port: 8080}}]\n---\n"
        );
        let endpoints = 10 + usize::from(extra_endpoint && s == 0);
        for e in 0..endpoints {
            let _ = write!(
                text,
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
                 metadata: {{name: svc-{s}-{e}, namespace: {NAMESPACE}}}\n\
                 spec: {{address: 10.{}.{lo}.{e}, labels: {{app: svc-{s}}}}}\n---\n",
                10 + hi
            );
        }
    }
    let parsed = parse_file("bench.yaml", &text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors.first());
    let objects = parsed.objects.into_iter().map(|p| Arc::new(p.object));
    Arc::new(ConfigSnapshot {
        version,
        model: Arc::new(MeshModel::build(objects, MeshSettings::default())),
        errors: Vec::new(),
        changes: Default::default(),
    })
}

/// One simulated Envoy: subscribes like Envoy and ACKs everything.
async fn proxy(channel: Channel, index: usize) {
    let (tx, rx) = mpsc::channel(16);
    let id = ProxyNode::sidecar_id(
        &format!("10.200.{}.{}", index / 250, index % 250),
        &format!("client-{index}"),
        NAMESPACE,
    );
    let request =
        |ty: XdsType, names: Vec<String>, answering: Option<&DiscoveryResponse>| DiscoveryRequest {
            type_url: ty.type_url().into(),
            resource_names: names,
            version_info: answering
                .map(|r| r.version_info.clone())
                .unwrap_or_default(),
            response_nonce: answering.map(|r| r.nonce.clone()).unwrap_or_default(),
            ..Default::default()
        };
    let mut first = request(XdsType::Cluster, vec![], None);
    first.node = Some(Node {
        id,
        ..Default::default()
    });
    let _ = tx.send(first).await;
    let _ = tx.send(request(XdsType::Listener, vec![], None)).await;
    let Ok(response) = AggregatedDiscoveryServiceClient::new(channel)
        .stream_aggregated_resources(ReceiverStream::new(rx))
        .await
    else {
        return;
    };
    let mut responses = response.into_inner();
    let (mut eds, mut rds): (Vec<String>, Vec<String>) = Default::default();
    while let Ok(Some(response)) = responses.message().await {
        let Some(ty) = XdsType::from_type_url(&response.type_url) else {
            continue;
        };
        // Envoy ACKs first, then asks for the names the new clusters and listeners need.
        let names = match ty {
            XdsType::Cluster => vec![],
            XdsType::Listener => vec![],
            XdsType::Endpoint => eds.clone(),
            XdsType::Route => rds.clone(),
        };
        let _ = tx.send(request(ty, names, Some(&response))).await;
        match ty {
            XdsType::Cluster => {
                let names = eds_names(&response);
                if names != eds {
                    eds = names;
                    let _ = tx.send(request(XdsType::Endpoint, eds.clone(), None)).await;
                }
            }
            XdsType::Listener => {
                let names = rds_names(&response);
                // An experiment: without RDS, the largest response is gone.
                let skip = std::env::var_os("MESH_BENCH_NO_RDS").is_some();
                if names != rds && !skip {
                    rds = names;
                    let _ = tx.send(request(XdsType::Route, rds.clone(), None)).await;
                }
            }
            _ => {}
        }
    }
}

fn eds_names(cds: &DiscoveryResponse) -> Vec<String> {
    let eds = cluster::ClusterDiscoveryType::Type(cluster::DiscoveryType::Eds as i32);
    cds.resources
        .iter()
        .filter_map(|any| Cluster::decode(any.value.as_slice()).ok())
        .filter(|c| c.cluster_discovery_type.as_ref() == Some(&eds))
        .map(|c| c.name)
        .collect()
}

fn rds_names(lds: &DiscoveryResponse) -> Vec<String> {
    let mut names: Vec<String> = lds
        .resources
        .iter()
        .filter_map(|any| Listener::decode(any.value.as_slice()).ok())
        .flat_map(|l| l.filter_chains.into_iter().chain(l.default_filter_chain))
        .flat_map(|chain| chain.filters)
        .filter_map(|f| match f.config_type {
            Some(filter::ConfigType::TypedConfig(any)) => {
                HttpConnectionManager::decode(any.value.as_slice()).ok()
            }
            _ => None,
        })
        .filter_map(|hcm| match hcm.route_specifier {
            Some(http_connection_manager::RouteSpecifier::Rds(rds)) => Some(rds.route_config_name),
            _ => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Waits until `proxies` connections are in sync with `version` by `done`.
async fn wait_until(
    registry: &Registry,
    proxies: usize,
    version: u64,
    done: impl Fn(&SyncStatus) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let connections = registry.connections();
        let synced = connections
            .iter()
            .filter(|c| c.inspect(|s| s.config_version == version && done(s)))
            .count();
        if synced == proxies {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < TIMEOUT,
            "only {synced} of {proxies} proxies in sync after {TIMEOUT:?}"
        );
        // Polling costs the server CPU; 5 ms is well below the times measured.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CDS and LDS ACKed, and EDS and RDS ACKed unless the proxy never asked for them.
fn all_synced(s: &SyncStatus) -> bool {
    XdsType::PUSH_ORDER.iter().all(|t| match s.get(*t).state() {
        SyncState::Synced => true,
        SyncState::NotSent => matches!(t, XdsType::Endpoint | XdsType::Route),
        SyncState::Stale | SyncState::Nacked => false,
    })
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// `min / median / max` of a few timings.
fn summary(mut times: Vec<Duration>) -> String {
    times.sort();
    match (times.first(), times.get(times.len() / 2), times.last()) {
        (Some(min), Some(median), Some(max)) => {
            format!("min {min:.2?} / median {median:.2?} / max {max:.2?}")
        }
        _ => "no rounds".to_string(),
    }
}

/// The control plane's side: serves ADS, applies the pushes the parent asks for on
/// stdin (`full`, `endpoint`) and answers each with `<seconds> <RSS MiB>` once every
/// proxy is in sync.
fn serve(services: usize, proxies: usize) {
    let rt = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    let rss_before = rss_mib();
    let first = snapshot(1, services, false, false);
    eprintln!("model: RSS +{:.0} MiB", rss_mib() - rss_before);
    {
        let id = ProxyNode::sidecar_id("10.200.0.1", "client-1", NAMESPACE);
        let node = ProxyNode::parse(&id, &serde_json::Value::Null).expect("a node id");
        let start = Instant::now();
        let resources = mesh_control::xds::translate::translate(&first.model, &node);
        let kib = |sizes: &mut dyn Iterator<Item = usize>| sizes.sum::<usize>() / 1024;
        eprintln!(
            "one proxy: translate {:.2?} ({} clusters); KiB encoded: CDS {}, EDS {}, LDS {}, RDS {}",
            start.elapsed(),
            resources.clusters.len(),
            kib(&mut resources.clusters.iter().map(Message::encoded_len)),
            kib(&mut resources.endpoints.iter().map(Message::encoded_len)),
            kib(&mut resources.listeners.iter().map(Message::encoded_len)),
            kib(&mut resources.routes.iter().map(Message::encoded_len)),
        );
    }
    let (config, config_rx) = watch::channel(first);
    let (server, address) = rt.block_on(async {
        let server = AdsServer::start(config_rx, Duration::ZERO);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(server.clone().serve(listener, std::future::pending()));
        (server, address)
    });
    let registry = server.registry().clone();
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{address}");
    let elapsed = rt.block_on(wait_until(&registry, proxies, 1, all_synced));
    let _ = writeln!(out, "{} {}", elapsed.as_secs_f64(), rss_mib());
    let (mut version, mut extra_service, mut extra_endpoint) = (1, false, false);
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        version += 1;
        let elapsed = match line.trim() {
            "full" => {
                extra_service = !extra_service;
                config.send_replace(snapshot(version, services, extra_service, extra_endpoint));
                rt.block_on(wait_until(&registry, proxies, version, all_synced))
            }
            "endpoint" => {
                extra_endpoint = !extra_endpoint;
                config.send_replace(snapshot(version, services, extra_service, extra_endpoint));
                rt.block_on(wait_until(&registry, proxies, version, |s| {
                    s.get(XdsType::Endpoint).state() == SyncState::Synced
                }))
            }
            _ => {
                eprintln!("after the pushes: control plane RSS {:.0} MiB", rss_mib());
                break;
            }
        };
        let _ = writeln!(out, "{} {}", elapsed.as_secs_f64(), rss_mib());
    }
    server.stop();
}

/// The clients' side: starts the control plane process, connects the proxies and
/// asks for the pushes.
fn bench_size(services: usize, proxies: usize, rounds: usize) {
    eprintln!(
        "== {services} services, {} endpoints, {proxies} proxies",
        services * 10
    );
    let exe = std::env::current_exe().expect("the bench's path");
    // `MESH_BENCH_SERVER_WRAPPER=heaptrack` profiles the control plane's memory.
    let mut command = match std::env::var("MESH_BENCH_SERVER_WRAPPER") {
        Ok(wrapper) => {
            let mut c = Command::new(wrapper);
            c.arg(exe);
            c
        }
        Err(_) => Command::new(exe),
    };
    let mut child = command
        .env("MESH_BENCH_ROLE", "server")
        .env("MESH_BENCH_SERVICES", services.to_string())
        .env("MESH_BENCH_PROXIES", proxies.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the control plane process");
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        panic!("the control plane process has no stdin/stdout");
    };
    let mut lines = BufReader::new(stdout).lines();
    let mut line = move || -> String {
        lines
            .next()
            .and_then(Result::ok)
            .expect("an answer from the control plane process")
    };
    // A wrapper such as heaptrack prints lines of its own before the address.
    let address = loop {
        let l = line();
        if l.trim().parse::<std::net::SocketAddr>().is_ok() {
            break l;
        }
        eprintln!("{l}");
    };
    // Every later answer is `<seconds> <RSS MiB>`.
    let mut answer = move || -> (Duration, f64) {
        let line = line();
        let mut fields = line
            .split_whitespace()
            .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
        let secs = fields.next().unwrap_or(f64::NAN);
        (
            Duration::from_secs_f64(if secs.is_finite() { secs } else { 0.0 }),
            fields.next().unwrap_or(f64::NAN),
        )
    };
    let rt = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    rt.block_on(async {
        for connection in 0..proxies.div_ceil(STREAMS_PER_CONNECTION) {
            let channel = Channel::from_shared(format!("http://{}", address.trim()))
                .expect("a URI")
                .connect()
                .await
                .expect("a connection");
            let first = connection * STREAMS_PER_CONNECTION;
            for index in first..proxies.min(first + STREAMS_PER_CONNECTION) {
                tokio::spawn(proxy(channel.clone(), index));
            }
        }
    });
    let (sync, rss) = answer();
    eprintln!("connect and sync: {sync:.2?}; control plane RSS {rss:.0} MiB");
    let mut push = |stdin: &mut std::process::ChildStdin, kind: &str| -> Vec<Duration> {
        (0..rounds)
            .map(|_| {
                let _ = writeln!(stdin, "{kind}");
                let _ = stdin.flush();
                answer().0
            })
            .collect()
    };
    eprintln!("full push: {}", summary(push(&mut stdin, "full")));
    eprintln!("endpoint change: {}", summary(push(&mut stdin, "endpoint")));
    let _ = writeln!(stdin, "quit");
    let _ = child.wait();
    drop(rt);
}

fn main() {
    let proxies = env_or("MESH_BENCH_PROXIES", 1_000);
    let rounds = env_or("MESH_BENCH_ROUNDS", 3);
    let sizes = std::env::var("MESH_BENCH_SERVICES").unwrap_or_else(|_| "100,1000".into());
    let sizes: Vec<usize> = sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if std::env::var("MESH_BENCH_ROLE").as_deref() == Ok("server") {
        serve(sizes.first().copied().unwrap_or(100), proxies);
        return;
    }
    for services in sizes {
        bench_size(services, proxies, rounds);
    }
}
