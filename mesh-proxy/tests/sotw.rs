//! A control plane that offers only State-of-the-World ADS: mesh-proxy's Delta
//! stream is refused with UNIMPLEMENTED, it falls back to SotW, syncs, ACKs, and
//! follows a config change. The server is mesh-control's own ADS service with its
//! Delta method turned away.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use mesh_api::manifest::parse_file;
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_control::config::ConfigSnapshot;
use mesh_control::xds::server::{AdsProtocolKind, AdsServer, AdsService, SyncState, XdsType};
use mesh_proxy::config::Snapshot;
use mesh_proxy::node::NodeMetadata;
use mesh_proxy::stats::Stats;
use mesh_proxy::xds::XdsClient;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;

/// mesh-control's ADS service without Delta, like an older control plane.
#[derive(Clone)]
struct SotwOnly(AdsService);

impl NamedService for SotwOnly {
    const NAME: &'static str = <AdsService as NamedService>::NAME;
}

impl Service<http::Request<Body>> for SotwOnly {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if req.uri().path().ends_with("/DeltaAggregatedResources") {
            return Box::pin(async {
                Ok(tonic::Status::unimplemented("no Delta here").into_http())
            });
        }
        self.0.call(req)
    }
}

fn config(version: u64, path: &str) -> Arc<ConfigSnapshot> {
    let text = format!(
        "
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: demo}}
spec:
  clusterIP: 10.96.0.80
  selector: {{app: web}}
  ports: [{{name: http, port: 8080}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: web-0, namespace: demo}}
spec: {{address: 127.0.0.9, labels: {{app: web}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web, namespace: demo}}
spec:
  hosts: [web]
  http:
  - match: [{{uri: {{prefix: {path}}}}}]
    directResponse: {{status: 418}}
  - route: [{{destination: {{host: web}}}}]
"
    );
    let parsed = parse_file("sotw.yaml", &text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    Arc::new(ConfigSnapshot {
        version,
        model: Arc::new(MeshModel::build(
            parsed.objects.into_iter().map(|p| Arc::new(p.object)),
            MeshSettings::default(),
        )),
        errors: Vec::new(),
        changes: Default::default(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_to_state_of_the_world_syncs_acks_and_follows_changes() {
    let (config_tx, config_rx) = watch::channel(config(1, "/teapot"));
    let server = AdsServer::start(config_rx, Duration::from_millis(10));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = SotwOnly(server.service());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    let node = NodeMetadata {
        proxy_type: mesh_proxy::node::ProxyType::Sidecar,
        pod: "client-0".into(),
        namespace: "demo".into(),
        ip: "127.0.0.8".parse::<IpAddr>().unwrap(),
        service_account: "default".into(),
        labels: BTreeMap::new(),
        cluster_id: "Kubernetes".into(),
        cluster_domain: "cluster.local".into(),
    };
    let (snapshots_tx, mut snapshots) = watch::channel(Arc::new(Snapshot::default()));
    let client = XdsClient::new(
        address.to_string(),
        node.node(),
        snapshots_tx,
        Arc::new(Stats::default()),
    );
    tokio::spawn(client.run());

    let wait = |snapshots: &mut watch::Receiver<Arc<Snapshot>>,
                what: &'static str,
                ok: fn(&Snapshot) -> bool| {
        let mut snapshots = snapshots.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(20), snapshots.wait_for(|s| ok(s)))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .map(|s| s.clone())
                .expect("the client runs")
        }
    };
    let synced = wait(&mut snapshots, "the first sync over SotW", |s| s.synced).await;
    assert!(
        synced
            .clusters
            .keys()
            .any(|c| c.contains("web.demo.svc.cluster.local"))
    );
    assert!(
        synced.route_tables.contains_key("8080"),
        "{:?}",
        synced.route_tables.keys()
    );
    assert!(synced.listeners.contains_key("virtualOutbound"));

    // The control plane sees a SotW proxy that ACKed every type.
    let registry = server.registry().clone();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let acked = registry.connections().iter().any(|c| {
                c.inspect(|s| {
                    c.protocol == AdsProtocolKind::Sotw
                        && XdsType::PUSH_ORDER
                            .iter()
                            .all(|t| s.get(*t).state() == SyncState::Synced)
                })
            });
            if acked {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("CDS, EDS, LDS and RDS ACKed over SotW");

    // A VirtualService change arrives over the same stream.
    config_tx.send_replace(config(2, "/kettle"));
    let changed = wait(&mut snapshots, "the new routes", |s| {
        s.route_tables
            .get("8080")
            .is_some_and(|t| format!("{t:?}").contains("/kettle"))
    })
    .await;
    assert!(!format!("{:?}", changed.route_tables["8080"]).contains("/teapot"));
    server.stop();
}
