//! Pushes to 1,000 proxies: 1,000 in-process SotW ADS clients that behave like Envoy
//! (subscribe to CDS and LDS, then to the EDS and RDS names those carry, ACK every
//! response) against the ADS server with the real translator, over loopback gRPC.
//!
//! The config goes through the control plane's own path: a file per service (the
//! Service and its 10 WorkloadEntries) handed to a `ConfigState` as events, which
//! updates the model and says what changed. Nine proxies in ten are in namespace
//! `bench`, one in ten in `bench-few`, which has a service of its own (`few-0`,
//! `exportTo: .`) that only its 100 proxies see.
//!
//! - connect and sync: every proxy connects; time until all have ACKed every type;
//! - full push: a service is added or removed; time until every proxy has ACKed
//!   every type for the new config;
//! - endpoint change: one endpoint of a service every proxy sees is added or
//!   removed; time until every proxy has ACKed the new endpoints;
//! - endpoint change, 100 proxies: the same for `few-0`, which only a tenth of the
//!   proxies see: the CPU it costs should be about a tenth.
//!
//! Each push reports its latency and the control plane's CPU time for it (model
//! update, translation, encoding, sending), which for an endpoint change should
//! follow the proxies affected, not the size of the mesh.
//!
//! The clients speak State of the World xDS, then Delta (`MESH_BENCH_PROTOCOLS`,
//! default `sotw,delta`). In SotW, Envoy's every ACK repeats the names of all the
//! resources it subscribes to (every EDS cluster of the mesh), so each proxy an
//! endpoint change reaches costs the control plane time in proportion to the size of
//! the mesh, whatever the server does; Delta ACKs name nothing.
//!
//! The push debounce is 0 here: the figures are the push itself; add
//! `--push-debounce` for the end-to-end delay. Sizes: `MESH_BENCH_SERVICES` (a
//! comma-separated list, default `1000,5000`: 1,000 services / 10,000 endpoints,
//! then 5,000 services / 50,000 endpoints), `MESH_BENCH_PROXIES` (default 1,000),
//! `MESH_BENCH_ROUNDS` (pushes of each kind, default 5).
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

use std::collections::BTreeSet;
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
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::protobuf::Any;
use mesh_api::manifest::parse_file;
use mesh_api::model::MeshSettings;
use mesh_control::config::{ConfigEvent, ConfigSnapshot, ConfigState, Origin};
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

/// The namespace of one proxy in ten, with a service only they see.
const NAMESPACE_FEW: &str = "bench-few";

/// The file of service `name` in `namespace`: the Service and its `endpoints`
/// WorkloadEntries, on addresses derived from `index`.
fn service_file(name: &str, namespace: &str, index: usize, endpoints: usize) -> ConfigEvent {
    let (hi, lo) = (index / 250, index % 250);
    let export = if namespace == NAMESPACE_FEW {
        "\n  annotations: {networking.istio.io/exportTo: \".\"}"
    } else {
        ""
    };
    let mut text = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}{export}\n\
         spec:\n  clusterIP: 10.{}.{hi}.{lo}\n  selector: {{app: {name}}}\n  \
         ports: [{{name: http, port: 8080}}]\n---\n",
        if namespace == NAMESPACE_FEW { 97 } else { 96 }
    );
    for e in 0..endpoints {
        let _ = write!(
            text,
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {{name: {name}-{e}, namespace: {namespace}}}\n\
             spec: {{address: 10.{}.{lo}.{e}, labels: {{app: {name}}}}}\n---\n",
            if namespace == NAMESPACE_FEW {
                9
            } else {
                10 + hi
            }
        );
    }
    file_event(&format!("{namespace}/{name}.yaml"), &text)
}

/// The whole of file `name` as an event, as the file source makes it.
fn file_event(name: &str, text: &str) -> ConfigEvent {
    let parsed = parse_file(name, text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors.first());
    ConfigEvent::reset_to_file(Origin::File(name.to_string()), parsed)
}

/// The pushes the bench makes, each toggling one thing.
#[derive(Debug, Default)]
struct Toggles {
    extra_service: bool,
    extra_endpoint: bool,
    extra_few_endpoint: bool,
}

impl Toggles {
    /// The events of the next push of `kind`.
    fn next(&mut self, kind: &str, services: usize) -> Option<Vec<ConfigEvent>> {
        let toggle = |flag: &mut bool| {
            *flag = !*flag;
            *flag
        };
        let event = match kind {
            "full" if toggle(&mut self.extra_service) => {
                service_file("svc-extra", NAMESPACE, services, 10)
            }
            // The extra service's file removed.
            "full" => ConfigEvent::Reset {
                origin: Origin::File(format!("{NAMESPACE}/svc-extra.yaml")),
                objects: Vec::new(),
                errors: Vec::new(),
            },
            "endpoint" => {
                let endpoints = if toggle(&mut self.extra_endpoint) {
                    11
                } else {
                    10
                };
                service_file("svc-0", NAMESPACE, 0, endpoints)
            }
            "endpoint-few" => {
                let endpoints = if toggle(&mut self.extra_few_endpoint) {
                    11
                } else {
                    10
                };
                service_file("few-0", NAMESPACE_FEW, 0, endpoints)
            }
            _ => return None,
        };
        Some(vec![event])
    }
}

/// The mesh of `services` services (10 endpoints each) plus `few-0`, as it stands
/// after its first batch of events.
fn initial_state(services: usize) -> (ConfigState, Arc<ConfigSnapshot>) {
    let mut state = ConfigState::new(MeshSettings::default());
    let mut events: Vec<ConfigEvent> = (0..services)
        .map(|s| service_file(&format!("svc-{s}"), NAMESPACE, s, 10))
        .collect();
    events.push(service_file("few-0", NAMESPACE_FEW, 0, 10));
    let snapshot = Arc::new(state.apply(events).expect("a first snapshot").clone());
    (state, snapshot)
}

/// The namespace of proxy `index`: one in ten in [`NAMESPACE_FEW`].
fn proxy_namespace(index: usize) -> &'static str {
    if index.is_multiple_of(10) {
        NAMESPACE_FEW
    } else {
        NAMESPACE
    }
}

/// The control plane process's CPU time so far (user + system, every thread), from
/// `/proc/self/stat`: in clock ticks of 10 ms (USER_HZ is 100 in Linux's ABI), so
/// the bench reports the mean over its rounds.
fn cpu_time() -> Duration {
    const TICK: Duration = Duration::from_millis(10);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) start after ')';
    // utime and stime, fields 14 and 15 of the line, are the 12th and 13th there.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u32 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u32>().ok())
        .sum();
    TICK * ticks
}

/// The xDS protocol the simulated proxies speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Sotw,
    Delta,
}

/// The node id of proxy `index`.
fn proxy_id(index: usize) -> String {
    ProxyNode::sidecar_id(
        &format!("10.200.{}.{}", index / 250, index % 250),
        &format!("client-{index}"),
        proxy_namespace(index),
    )
}

/// One simulated Envoy speaking Delta xDS: subscribes to CDS and LDS (wildcard),
/// then to the EDS and RDS names those carry, and ACKs everything. Unlike SotW, an
/// ACK names no resources.
async fn delta_proxy(channel: Channel, index: usize) {
    let (tx, rx) = mpsc::channel(16);
    let request = |ty: XdsType, subscribe: Vec<String>, unsubscribe: Vec<String>, nonce: &str| {
        DeltaDiscoveryRequest {
            type_url: ty.type_url().into(),
            resource_names_subscribe: subscribe,
            resource_names_unsubscribe: unsubscribe,
            response_nonce: nonce.to_string(),
            ..Default::default()
        }
    };
    let mut first = request(XdsType::Cluster, vec![], vec![], "");
    first.node = Some(Node {
        id: proxy_id(index),
        ..Default::default()
    });
    let _ = tx.send(first).await;
    let _ = tx
        .send(request(XdsType::Listener, vec![], vec![], ""))
        .await;
    let Ok(response) = AggregatedDiscoveryServiceClient::new(channel)
        .delta_aggregated_resources(ReceiverStream::new(rx))
        .await
    else {
        return;
    };
    let mut responses = response.into_inner();
    let (mut eds, mut rds) = (BTreeSet::new(), BTreeSet::new());
    while let Ok(Some(response)) = responses.message().await {
        let Some(ty) = XdsType::from_type_url(&response.type_url) else {
            continue;
        };
        let _ = tx.send(request(ty, vec![], vec![], &response.nonce)).await;
        let resources = response
            .resources
            .iter()
            .filter_map(|r| r.resource.as_ref());
        let (names, wanted_ty, held) = match ty {
            XdsType::Cluster => (eds_names(resources), XdsType::Endpoint, &mut eds),
            XdsType::Listener => (rds_names(resources), XdsType::Route, &mut rds),
            _ => continue,
        };
        let removed: Vec<String> = response
            .removed_resources
            .iter()
            .filter(|n| held.remove(*n))
            .cloned()
            .collect();
        let added: Vec<String> = names
            .into_iter()
            .filter(|n| held.insert(n.clone()))
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            let _ = tx.send(request(wanted_ty, added, removed, "")).await;
        }
    }
}

/// One simulated Envoy: subscribes like Envoy and ACKs everything.
async fn proxy(channel: Channel, index: usize) {
    let (tx, rx) = mpsc::channel(16);
    let id = proxy_id(index);
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
                let names = eds_names(&response.resources).into_iter().collect();
                if names != eds {
                    eds = names;
                    let _ = tx.send(request(XdsType::Endpoint, eds.clone(), None)).await;
                }
            }
            XdsType::Listener => {
                let names = rds_names(&response.resources).into_iter().collect();
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

/// The names of the EDS clusters among `resources`, in order.
fn eds_names<'a>(resources: impl IntoIterator<Item = &'a Any>) -> BTreeSet<String> {
    let eds = cluster::ClusterDiscoveryType::Type(cluster::DiscoveryType::Eds as i32);
    resources
        .into_iter()
        .filter_map(|any| Cluster::decode(any.value.as_slice()).ok())
        .filter(|c| c.cluster_discovery_type.as_ref() == Some(&eds))
        .map(|c| c.name)
        .collect()
}

/// The route config names the listeners among `resources` ask for, in order.
fn rds_names<'a>(resources: impl IntoIterator<Item = &'a Any>) -> BTreeSet<String> {
    resources
        .into_iter()
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
        .collect()
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
/// stdin (`full`, `endpoint`, `endpoint-few`) and answers each with
/// `<seconds> <RSS MiB> <CPU seconds>` once every proxy is in sync.
fn serve(services: usize, proxies: usize) {
    let rt = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    let rss_before = rss_mib();
    let start = Instant::now();
    let (mut state, first) = initial_state(services);
    eprintln!(
        "model: built in {:.2?}, RSS +{:.0} MiB",
        start.elapsed(),
        rss_mib() - rss_before
    );
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
    let first_version = first.version;
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
    let elapsed = rt.block_on(wait_until(&registry, proxies, first_version, all_synced));
    let _ = writeln!(out, "{} {} 0", elapsed.as_secs_f64(), rss_mib());
    let mut toggles = Toggles::default();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let kind = line.trim();
        let Some(events) = toggles.next(kind, services) else {
            eprintln!("after the pushes: control plane RSS {:.0} MiB", rss_mib());
            break;
        };
        let (cpu_before, start) = (cpu_time(), Instant::now());
        // The control plane's own path: events, model update, snapshot, push.
        let snapshot = state.apply(events).expect("every push changes something");
        let version = snapshot.version;
        config.send_replace(Arc::new(snapshot.clone()));
        if kind == "full" {
            rt.block_on(wait_until(&registry, proxies, version, all_synced));
        } else {
            rt.block_on(wait_until(&registry, proxies, version, |s| {
                s.get(XdsType::Endpoint).state() == SyncState::Synced
            }));
        }
        let (elapsed, cpu) = (start.elapsed(), cpu_time().saturating_sub(cpu_before));
        let _ = writeln!(
            out,
            "{} {} {}",
            elapsed.as_secs_f64(),
            rss_mib(),
            cpu.as_secs_f64()
        );
    }
    server.stop();
}

/// The clients' side: starts the control plane process, connects the proxies and
/// asks for the pushes.
fn bench_size(services: usize, proxies: usize, rounds: usize, protocol: Protocol) {
    eprintln!(
        "== {services} services, {} endpoints, {proxies} proxies ({protocol:?} xDS)",
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
    // Every later answer is `<seconds> <RSS MiB> <CPU seconds>`.
    let mut answer = move || -> (Duration, f64, Duration) {
        let line = line();
        let mut fields = line
            .split_whitespace()
            .map(|f| f.parse::<f64>().unwrap_or(f64::NAN));
        let seconds = |f: Option<f64>| {
            Duration::from_secs_f64(f.filter(|s| s.is_finite() && *s >= 0.0).unwrap_or(0.0))
        };
        let secs = seconds(fields.next());
        let rss = fields.next().unwrap_or(f64::NAN);
        (secs, rss, seconds(fields.next()))
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
                match protocol {
                    Protocol::Sotw => tokio::spawn(proxy(channel.clone(), index)),
                    Protocol::Delta => tokio::spawn(delta_proxy(channel.clone(), index)),
                };
            }
        }
    });
    let (sync, rss, _) = answer();
    eprintln!("connect and sync: {sync:.2?}; control plane RSS {rss:.0} MiB");
    let mut push = |stdin: &mut std::process::ChildStdin, kind: &str| {
        let (times, cpu): (Vec<Duration>, Vec<Duration>) = (0..rounds)
            .map(|_| {
                let _ = writeln!(stdin, "{kind}");
                let _ = stdin.flush();
                let (time, _, cpu) = answer();
                (time, cpu)
            })
            .unzip();
        let mean_cpu = cpu.iter().sum::<Duration>() / u32::try_from(cpu.len().max(1)).unwrap_or(1);
        format!("{}; CPU per push (mean) {mean_cpu:.1?}", summary(times))
    };
    eprintln!("full push: {}", push(&mut stdin, "full"));
    eprintln!(
        "endpoint change, {proxies} proxies see it: {}",
        push(&mut stdin, "endpoint")
    );
    eprintln!(
        "endpoint change, {} proxies see it: {}",
        (0..proxies)
            .filter(|i| proxy_namespace(*i) == NAMESPACE_FEW)
            .count(),
        push(&mut stdin, "endpoint-few")
    );
    let _ = writeln!(stdin, "quit");
    let _ = child.wait();
    drop(rt);
}

fn main() {
    let proxies = env_or("MESH_BENCH_PROXIES", 1_000);
    let rounds = env_or("MESH_BENCH_ROUNDS", 5);
    let sizes = std::env::var("MESH_BENCH_SERVICES").unwrap_or_else(|_| "1000,5000".into());
    let sizes: Vec<usize> = sizes
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if std::env::var("MESH_BENCH_ROLE").as_deref() == Ok("server") {
        serve(sizes.first().copied().unwrap_or(1_000), proxies);
        return;
    }
    let protocols = std::env::var("MESH_BENCH_PROTOCOLS").unwrap_or_else(|_| "sotw,delta".into());
    for protocol in protocols.split(',') {
        let protocol = match protocol.trim() {
            "sotw" => Protocol::Sotw,
            "delta" => Protocol::Delta,
            other => {
                panic!("MESH_BENCH_PROTOCOLS: unknown protocol {other:?}; use sotw, delta or both")
            }
        };
        for services in &sizes {
            bench_size(*services, proxies, rounds, protocol);
        }
    }
}
