//! Pushes to 1,000 proxies: 1,000 in-process SotW ADS clients that behave like Envoy
//! (subscribe to CDS and LDS, then to the EDS and RDS names those carry, ACK every
//! response) against the ADS server with the real translator, over loopback gRPC.
//!
//! - `full_push`: a service is added or removed; time until every proxy has ACKed
//!   every type for the new config.
//! - `endpoint_change`: one endpoint is added or removed; time until every proxy has
//!   ACKed the new endpoints.
//!
//! The push debounce is 0 here: the figures are the push itself; add
//! `--push-debounce` for the end-to-end delay. `MESH_BENCH_PROXIES` and
//! `MESH_BENCH_SERVICES` change the size (default 1,000 proxies, 100 services with 10
//! endpoints each).
//!
//! `cargo bench -p mesh-control --bench push`

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
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
use mesh_control::file_source::ConfigSnapshot;
use mesh_control::xds::node::ProxyNode;
use mesh_control::xds::server::{AdsServer, Registry, SyncState, SyncStatus, XdsType};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

const NAMESPACE: &str = "bench";
/// ADS streams per HTTP/2 connection, below the server's concurrent-stream limit.
const STREAMS_PER_CONNECTION: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(120);

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
                if names != rds {
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

fn rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn push(c: &mut Criterion) {
    let proxies = env_or("MESH_BENCH_PROXIES", 1_000);
    let services = env_or("MESH_BENCH_SERVICES", 100);
    let rt = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    {
        let model = snapshot(1, services, false, false);
        let id = ProxyNode::sidecar_id("10.200.0.1", "client-1", NAMESPACE);
        let node = ProxyNode::parse(&id, &serde_json::Value::Null).expect("a node id");
        let start = Instant::now();
        let resources = mesh_control::xds::translate::translate(&model.model, &node);
        let translated = start.elapsed();
        let start = Instant::now();
        let encoded =
            mesh_control::xds::server::ProxySnapshot::encode(1, &resources, &Default::default());
        eprintln!(
            "one proxy: translate {translated:?}, encode {:?} ({} clusters)",
            start.elapsed(),
            encoded.resources(XdsType::Cluster).len()
        );
    }
    let (config, registry, mut version) = rt.block_on(async {
        let (config, config_rx) = watch::channel(snapshot(1, services, false, false));
        let server = AdsServer::start(config_rx, Duration::ZERO);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address");
        tokio::spawn(server.clone().serve(listener, std::future::pending()));
        let start = Instant::now();
        for connection in 0..proxies.div_ceil(STREAMS_PER_CONNECTION) {
            let channel = Channel::from_shared(format!("http://{address}"))
                .expect("a URI")
                .connect()
                .await
                .expect("a connection");
            let first = connection * STREAMS_PER_CONNECTION;
            for index in first..proxies.min(first + STREAMS_PER_CONNECTION) {
                tokio::spawn(proxy(channel.clone(), index));
            }
        }
        let registry = server.registry().clone();
        wait_until(&registry, proxies, 1, all_synced).await;
        eprintln!(
            "{proxies} proxies connected and synced in {:?} ({services} services, {} endpoints); RSS {:.0} MiB",
            start.elapsed(),
            services * 10,
            rss_mib().unwrap_or(f64::NAN)
        );
        (config, registry, 1)
    });
    let mut group = c.benchmark_group(format!("push_to_{proxies}_proxies"));
    group.sample_size(10).warm_up_time(Duration::from_millis(1));
    let mut extra_service = false;
    group.bench_function("full_push", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                version += 1;
                extra_service = !extra_service;
                config.send_replace(snapshot(version, services, extra_service, false));
                total += rt.block_on(wait_until(&registry, proxies, version, all_synced));
            }
            total
        })
    });
    let mut extra_endpoint = false;
    group.bench_function("endpoint_change", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                version += 1;
                extra_endpoint = !extra_endpoint;
                config.send_replace(snapshot(version, services, extra_service, extra_endpoint));
                total += rt.block_on(wait_until(&registry, proxies, version, |s| {
                    s.get(XdsType::Endpoint).state() == SyncState::Synced
                }));
            }
            total
        })
    });
    group.finish();
    eprintln!(
        "RSS after the pushes: {:.0} MiB",
        rss_mib().unwrap_or(f64::NAN)
    );
}

criterion_group!(benches, push);
criterion_main!(benches);
