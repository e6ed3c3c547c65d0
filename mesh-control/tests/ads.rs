//! The ADS server in process, driven by a tonic ADS client the way Envoy drives it:
//! subscriptions, ACKs, NACKs, pushes of config changes, SotW and Delta.

// Helpers outside `#[test]` functions panic on purpose: a failure is the test's.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, Node, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::google::rpc;
use mesh_api::debug::{
    self, AdsProtocol, DiscoveryService, ProxyConfigDump, ProxySyncStatus, path,
};
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_control::config::ConfigSnapshot;
use mesh_control::debug::{DebugResponse, DebugState};
use mesh_control::xds::node::ProxyNode;
use mesh_control::xds::resources::ProxyResources;
use mesh_control::xds::server::{AdsServer, SyncState, SyncStatus, Translator, XdsType};
use prost::Message;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const WEB: &str = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-1, namespace: shop}
spec: {address: 10.0.0.1, labels: {app: web}}
";

const WEB_2: &str = "
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-2, namespace: shop}
spec: {address: 10.0.0.2, labels: {app: web}}
";

const DB: &str = "
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp, port: 5432}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-1, namespace: shop}
spec: {address: 10.0.0.9, labels: {app: db}}
";

const WEB_CLUSTER: &str = "outbound|80||web.shop.svc.cluster.local";
const DB_CLUSTER: &str = "outbound|5432||db.shop.svc.cluster.local";
const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing else arrives" is watched for.
const QUIET: Duration = Duration::from_millis(300);

fn snapshot(version: u64, manifests: &[&str]) -> Arc<ConfigSnapshot> {
    let objects = manifests.iter().enumerate().flat_map(|(i, text)| {
        let parsed = mesh_api::manifest::parse_file(&format!("test-{i}.yaml"), text);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed.objects.into_iter().map(|p| Arc::new(p.object))
    });
    Arc::new(ConfigSnapshot {
        version,
        model: Arc::new(MeshModel::build(objects, MeshSettings::default())),
        errors: Vec::new(),
        changes: Default::default(),
    })
}

/// A stand-in for the translator with Istio's names: per service port an EDS
/// cluster, its endpoints, a `0.0.0.0_<port>` listener and a route config named by
/// the port. An endpoint change touches only the ClusterLoadAssignments.
fn istio_like(model: &MeshModel, _proxy: &ProxyNode) -> ProxyResources {
    let mut listeners = BTreeMap::new();
    let mut routes: BTreeMap<String, RouteConfiguration> = BTreeMap::new();
    let mut resources = ProxyResources::default();
    for service in model.services.values() {
        for port in &service.ports {
            let name = format!("outbound|{}||{}", port.port, service.hostname);
            resources.clusters.push(Cluster {
                name: name.clone(),
                cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
                    cluster::DiscoveryType::Eds as i32,
                )),
                ..Default::default()
            });
            let lb_endpoints = service
                .endpoints
                .iter()
                .map(|e| LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(socket(
                            &e.address,
                            e.ports.get(&port.port).copied().unwrap_or(port.port),
                        )),
                        ..Default::default()
                    })),
                    ..Default::default()
                })
                .collect();
            resources.endpoints.push(ClusterLoadAssignment {
                cluster_name: name,
                endpoints: vec![LocalityLbEndpoints {
                    lb_endpoints,
                    ..Default::default()
                }],
                ..Default::default()
            });
            let listener = format!("0.0.0.0_{}", port.port);
            listeners.insert(
                listener.clone(),
                Listener {
                    name: listener,
                    address: Some(socket("0.0.0.0", port.port)),
                    ..Default::default()
                },
            );
            let route = routes
                .entry(port.port.to_string())
                .or_insert_with(|| RouteConfiguration {
                    name: port.port.to_string(),
                    ..Default::default()
                });
            route.virtual_hosts.push(VirtualHost {
                name: format!("{}:{}", service.hostname, port.port),
                domains: vec![service.hostname.clone()],
                ..Default::default()
            });
        }
    }
    resources.listeners = listeners.into_values().collect();
    resources.routes = routes.into_values().collect();
    resources
}

fn socket(ip: &str, port: u16) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port.into())),
            ..Default::default()
        })),
    }
}

struct ControlPlane {
    server: AdsServer,
    address: SocketAddr,
    config: watch::Sender<Arc<ConfigSnapshot>>,
}

async fn control_plane(translator: Translator, manifests: &[&str]) -> ControlPlane {
    let (config, config_rx) = watch::channel(snapshot(1, manifests));
    let server = AdsServer::with_translator(config_rx, Duration::from_millis(10), translator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(server.clone().serve(listener, std::future::pending()));
    ControlPlane {
        server,
        address,
        config,
    }
}

impl ControlPlane {
    async fn client(&self) -> AggregatedDiscoveryServiceClient<tonic::transport::Channel> {
        AggregatedDiscoveryServiceClient::connect(format!("http://{}", self.address))
            .await
            .unwrap()
    }

    /// Waits until `done` holds for the proxy's sync status.
    async fn wait_for_status(
        &self,
        proxy: &str,
        what: &str,
        done: impl Fn(&SyncStatus) -> bool,
    ) -> SyncStatus {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = self
                .server
                .registry()
                .find(proxy)
                .last()
                .map(|c| c.status());
            if let Some(status) = status.as_ref().filter(|s| done(s)) {
                return status.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last status: {status:#?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn debug(&self) -> DebugState {
        DebugState {
            config: self.config.subscribe(),
            registry: self.server.registry().clone(),
        }
    }
}

fn node(pod: &str) -> Node {
    Node {
        id: ProxyNode::sidecar_id("10.0.0.5", pod, "shop"),
        ..Default::default()
    }
}

/// A SotW ADS client behaving like Envoy.
struct Sotw {
    requests: mpsc::Sender<DiscoveryRequest>,
    responses: Streaming<DiscoveryResponse>,
}

impl Sotw {
    async fn connect(
        cp: &ControlPlane,
        node: Node,
        first_type: XdsType,
    ) -> Result<Sotw, tonic::Status> {
        let (requests, rx) = mpsc::channel(16);
        requests
            .send(DiscoveryRequest {
                node: Some(node),
                type_url: first_type.type_url().into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let responses = cp
            .client()
            .await
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await?
            .into_inner();
        Ok(Sotw {
            requests,
            responses,
        })
    }

    async fn request(
        &self,
        ty: XdsType,
        names: &[&str],
        answering: Option<&DiscoveryResponse>,
        error: Option<&str>,
    ) {
        let request = DiscoveryRequest {
            type_url: ty.type_url().into(),
            resource_names: names.iter().map(|n| n.to_string()).collect(),
            version_info: answering
                .map(|r| r.version_info.clone())
                .unwrap_or_default(),
            response_nonce: answering.map(|r| r.nonce.clone()).unwrap_or_default(),
            error_detail: error.map(|message| rpc::Status {
                code: tonic::Code::InvalidArgument as i32,
                message: message.into(),
                details: vec![],
            }),
            ..Default::default()
        };
        self.requests.send(request).await.unwrap();
    }

    /// ACKs `response`, still asking for `names`.
    async fn ack(&self, response: &DiscoveryResponse, names: &[&str]) {
        let ty = XdsType::from_type_url(&response.type_url).unwrap();
        self.request(ty, names, Some(response), None).await;
    }

    async fn recv(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(WAIT, self.responses.message())
            .await
            .expect("no response in time")
            .unwrap()
            .expect("stream ended")
    }

    async fn recv_type(&mut self, ty: XdsType) -> DiscoveryResponse {
        let response = self.recv().await;
        assert_eq!(
            response.type_url,
            ty.type_url(),
            "expected {}",
            ty.short_name()
        );
        response
    }

    async fn assert_quiet(&mut self) {
        if let Ok(Ok(Some(r))) = tokio::time::timeout(QUIET, self.responses.message()).await {
            panic!(
                "unexpected {} push: {} resources",
                short(&r.type_url),
                r.resources.len()
            );
        }
    }

    /// Subscribes to everything like Envoy does at start-up and ACKs it all.
    async fn sync_all(
        cp: &ControlPlane,
        pod: &str,
    ) -> (Sotw, BTreeMap<XdsType, DiscoveryResponse>) {
        let mut c = Sotw::connect(cp, node(pod), XdsType::Cluster)
            .await
            .unwrap();
        let cds = c.recv_type(XdsType::Cluster).await;
        let clusters = names(&cds);
        let clusters: Vec<&str> = clusters.iter().map(String::as_str).collect();
        c.ack(&cds, &[]).await;
        c.request(XdsType::Endpoint, &clusters, None, None).await;
        let eds = c.recv_type(XdsType::Endpoint).await;
        c.ack(&eds, &clusters).await;
        c.request(XdsType::Listener, &[], None, None).await;
        let lds = c.recv_type(XdsType::Listener).await;
        c.ack(&lds, &[]).await;
        c.request(XdsType::Route, &["80"], None, None).await;
        let rds = c.recv_type(XdsType::Route).await;
        c.ack(&rds, &["80"]).await;
        let last = [cds, eds, lds, rds];
        (c, XdsType::PUSH_ORDER.into_iter().zip(last).collect())
    }
}

fn short(type_url: &str) -> &'static str {
    XdsType::from_type_url(type_url).map_or("?", XdsType::short_name)
}

fn names(response: &DiscoveryResponse) -> Vec<String> {
    response
        .resources
        .iter()
        .map(|any| match XdsType::from_type_url(&any.type_url) {
            Some(XdsType::Cluster) => Cluster::decode(any.value.as_slice()).unwrap().name,
            Some(XdsType::Endpoint) => {
                ClusterLoadAssignment::decode(any.value.as_slice())
                    .unwrap()
                    .cluster_name
            }
            Some(XdsType::Listener) => Listener::decode(any.value.as_slice()).unwrap().name,
            Some(XdsType::Route) => {
                RouteConfiguration::decode(any.value.as_slice())
                    .unwrap()
                    .name
            }
            None => panic!("unexpected type {}", any.type_url),
        })
        .collect()
}

fn endpoint_count(response: &DiscoveryResponse) -> usize {
    response
        .resources
        .iter()
        .map(|any| {
            let cla = ClusterLoadAssignment::decode(any.value.as_slice()).unwrap();
            cla.endpoints
                .iter()
                .map(|l| l.lb_endpoints.len())
                .sum::<usize>()
        })
        .sum()
}

/// A debug answer as meshctl reads it: the JSON sent, parsed as `T`.
fn read<T: DeserializeOwned>(response: &DebugResponse) -> T {
    let json = response.json();
    serde_json::from_slice(&json)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json)))
}

fn all_synced(s: &SyncStatus) -> bool {
    XdsType::PUSH_ORDER
        .iter()
        .all(|t| s.get(*t).state() == SyncState::Synced)
}

#[tokio::test]
async fn sotw_initial_push_of_all_types_and_acks_make_the_proxy_synced() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let (_client, sent) = Sotw::sync_all(&cp, "client-1").await;
    assert_eq!(names(&sent[&XdsType::Cluster]), [WEB_CLUSTER]);
    assert_eq!(names(&sent[&XdsType::Endpoint]), [WEB_CLUSTER]);
    assert_eq!(names(&sent[&XdsType::Listener]), ["0.0.0.0_80"]);
    assert_eq!(names(&sent[&XdsType::Route]), ["80"]);
    assert!(
        sent[&XdsType::Cluster].version_info.starts_with("1-"),
        "{}",
        sent[&XdsType::Cluster].version_info
    );

    let status = cp
        .wait_for_status("client-1.shop", "every type SYNCED", all_synced)
        .await;
    assert_eq!(status.config_version, 1);
    assert_eq!(
        status.get(XdsType::Route).acked_version.as_ref(),
        Some(&sent[&XdsType::Route].version_info)
    );

    let debug = cp.debug();
    let syncz: Vec<ProxySyncStatus> = read(&debug.respond(&hyper::Method::GET, path::SYNCZ, None));
    assert_eq!(syncz[0].name, "client-1.shop");
    assert_eq!(syncz[0].protocol, AdsProtocol::Sotw);
    assert_eq!(syncz[0].types.len(), 4, "{syncz:#?}");
    for (ty, t) in &syncz[0].types {
        assert_eq!(t.state, debug::SyncState::Synced, "{ty}: {syncz:#?}");
    }
    let dump: ProxyConfigDump = read(&debug.respond(
        &hyper::Method::GET,
        path::CONFIG_DUMP,
        Some("proxy=client-1.shop"),
    ));
    let cluster = dump.clusters[0].decoded().expect("the cluster decodes");
    assert_eq!(cluster.name, WEB_CLUSTER);
    assert_eq!(cluster.discovery_type, "EDS");
    let endpoints = dump.endpoints[0].decoded().expect("the endpoints decode");
    assert_eq!(
        endpoints.endpoints[0].address.as_deref(),
        Some("10.0.0.1:80")
    );
    let listener = dump.listeners[0].decoded().expect("the listener decodes");
    assert_eq!(listener.address.as_deref(), Some("0.0.0.0:80"));
    let routes = dump.routes[0].decoded().expect("the routes decode");
    assert_eq!(
        routes.virtual_hosts[0].domains[0],
        "web.shop.svc.cluster.local"
    );
}

#[tokio::test]
async fn a_full_push_sends_clusters_endpoints_listeners_routes_in_that_order() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let (mut client, _) = Sotw::sync_all(&cp, "client-1").await;
    cp.wait_for_status("client-1.shop", "every type SYNCED", all_synced)
        .await;

    cp.config.send_replace(snapshot(2, &[WEB, DB]));
    let mut order = Vec::new();
    for _ in 0..4 {
        order.push(short(&client.recv().await.type_url));
    }
    assert_eq!(order, ["CDS", "EDS", "LDS", "RDS"]);
    client.assert_quiet().await;
}

#[tokio::test]
async fn an_endpoint_only_change_pushes_only_eds() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let (mut client, before) = Sotw::sync_all(&cp, "client-1").await;
    cp.wait_for_status("client-1.shop", "every type SYNCED", all_synced)
        .await;

    cp.config.send_replace(snapshot(2, &[WEB, WEB_2]));
    let eds = client.recv_type(XdsType::Endpoint).await;
    assert_eq!(endpoint_count(&eds), 2);
    assert!(eds.version_info.starts_with("2-"), "{}", eds.version_info);
    client.assert_quiet().await;

    client.ack(&eds, &[WEB_CLUSTER]).await;
    let status = cp
        .wait_for_status("client-1.shop", "the EDS ACK", all_synced)
        .await;
    assert_eq!(status.config_version, 2);
    for ty in [XdsType::Cluster, XdsType::Listener, XdsType::Route] {
        assert_eq!(
            status.get(ty).sent_version.as_ref(),
            Some(&before[&ty].version_info),
            "{}",
            ty.short_name()
        );
    }
}

#[tokio::test]
async fn a_nack_is_recorded_with_envoys_error_and_the_acked_version_stays() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let mut client = Sotw::connect(&cp, node("client-1"), XdsType::Cluster)
        .await
        .unwrap();
    let good = client.recv_type(XdsType::Cluster).await;
    client.ack(&good, &[]).await;
    cp.wait_for_status("client-1.shop", "CDS SYNCED", |s| {
        s.get(XdsType::Cluster).state() == SyncState::Synced
    })
    .await;

    cp.config.send_replace(snapshot(2, &[WEB, DB]));
    let bad = client.recv_type(XdsType::Cluster).await;
    assert_eq!(names(&bad), [DB_CLUSTER, WEB_CLUSTER]);
    let error = "cluster outbound|5432||db.shop.svc.cluster.local: unsupported lb policy";
    // Envoy NACKs with the version it still runs and the nonce it rejects.
    client
        .request(
            XdsType::Cluster,
            &[],
            Some(&DiscoveryResponse {
                version_info: good.version_info.clone(),
                nonce: bad.nonce.clone(),
                ..Default::default()
            }),
            Some(error),
        )
        .await;
    let status = cp
        .wait_for_status("client-1.shop", "CDS NACKED", |s| {
            s.get(XdsType::Cluster).state() == SyncState::Nacked
        })
        .await;
    let cds = status.get(XdsType::Cluster);
    assert_eq!(cds.acked_version.as_ref(), Some(&good.version_info));
    assert_eq!(cds.sent_version.as_ref(), Some(&bad.version_info));
    assert_eq!(cds.nack.as_ref().map(|n| n.error.as_str()), Some(error));
    client.assert_quiet().await;

    let syncz: Vec<ProxySyncStatus> =
        read(&cp.debug().respond(&hyper::Method::GET, path::SYNCZ, None));
    let cds = &syncz[0].types[&DiscoveryService::Cds];
    assert_eq!(cds.state, debug::SyncState::Nacked);
    assert_eq!(cds.error.as_deref(), Some(error));
    assert_eq!(cds.acked_version.as_ref(), Some(&good.version_info));
    assert_eq!(
        syncz[0].types[&DiscoveryService::Lds].state,
        debug::SyncState::NotSent
    );
}

#[tokio::test]
async fn a_malformed_node_id_is_rejected_saying_what_to_do() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let bad = Node {
        id: "my-envoy".into(),
        ..Default::default()
    };
    let Err(status) = Sotw::connect(&cp, bad, XdsType::Cluster).await else {
        panic!("a malformed node id was accepted");
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("meshctl bootstrap envoy"),
        "{}",
        status.message()
    );
    assert!(cp.server.registry().connections().is_empty());
}

/// A Delta ADS client.
struct Delta {
    requests: mpsc::Sender<DeltaDiscoveryRequest>,
    responses: Streaming<DeltaDiscoveryResponse>,
}

impl Delta {
    async fn connect(cp: &ControlPlane, first: DeltaDiscoveryRequest) -> Delta {
        let (requests, rx) = mpsc::channel(16);
        requests.send(first).await.unwrap();
        let responses = cp
            .client()
            .await
            .delta_aggregated_resources(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Delta {
            requests,
            responses,
        }
    }

    async fn send(&self, request: DeltaDiscoveryRequest) {
        self.requests.send(request).await.unwrap();
    }

    async fn ack(&self, response: &DeltaDiscoveryResponse) {
        self.send(DeltaDiscoveryRequest {
            type_url: response.type_url.clone(),
            response_nonce: response.nonce.clone(),
            ..Default::default()
        })
        .await;
    }

    async fn recv(&mut self) -> DeltaDiscoveryResponse {
        tokio::time::timeout(WAIT, self.responses.message())
            .await
            .expect("no response in time")
            .unwrap()
            .expect("stream ended")
    }

    async fn assert_quiet(&mut self) {
        if let Ok(Ok(Some(r))) = tokio::time::timeout(QUIET, self.responses.message()).await {
            panic!(
                "unexpected {} response: {:?} removed {:?}",
                short(&r.type_url),
                r.resources.iter().map(|r| &r.name).collect::<Vec<_>>(),
                r.removed_resources
            );
        }
    }
}

fn delta_names(response: &DeltaDiscoveryResponse) -> Vec<&str> {
    response.resources.iter().map(|r| r.name.as_str()).collect()
}

fn subscribe(ty: XdsType, names: &[&str]) -> DeltaDiscoveryRequest {
    DeltaDiscoveryRequest {
        type_url: ty.type_url().into(),
        resource_names_subscribe: names.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn delta_sends_only_changes_and_honours_subscriptions() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let mut first = subscribe(XdsType::Cluster, &[]);
    first.node = Some(node("client-1"));
    let mut client = Delta::connect(&cp, first).await;
    let cds = client.recv().await;
    assert_eq!(delta_names(&cds), [WEB_CLUSTER]);
    let web_version = cds.resources[0].version.clone();
    client.ack(&cds).await;

    // A name that does not exist is reported removed, so Envoy stops waiting for it.
    let missing = "outbound|80||nope.shop.svc.cluster.local";
    client
        .send(subscribe(XdsType::Endpoint, &[WEB_CLUSTER, missing]))
        .await;
    let eds = client.recv().await;
    assert_eq!(short(&eds.type_url), "EDS");
    assert_eq!(delta_names(&eds), [WEB_CLUSTER]);
    assert_eq!(eds.removed_resources, [missing]);
    client.ack(&eds).await;

    // A new service: only the new cluster goes out; its endpoints were not asked for.
    cp.config.send_replace(snapshot(2, &[WEB, DB]));
    let cds = client.recv().await;
    assert_eq!(short(&cds.type_url), "CDS");
    assert_eq!(delta_names(&cds), [DB_CLUSTER]);
    assert!(cds.removed_resources.is_empty());
    client.ack(&cds).await;
    client.assert_quiet().await;

    // Unsubscribed endpoints are not pushed any more.
    client
        .send(DeltaDiscoveryRequest {
            type_url: XdsType::Endpoint.type_url().into(),
            resource_names_unsubscribe: vec![WEB_CLUSTER.into()],
            ..Default::default()
        })
        .await;
    cp.config.send_replace(snapshot(3, &[WEB, DB, WEB_2]));
    client.assert_quiet().await;

    // A removed service is a removed cluster.
    cp.config.send_replace(snapshot(4, &[WEB]));
    let cds = client.recv().await;
    assert_eq!(short(&cds.type_url), "CDS");
    assert!(cds.resources.is_empty());
    assert_eq!(cds.removed_resources, [DB_CLUSTER]);
    client.ack(&cds).await;
    let status = cp
        .wait_for_status("client-1.shop", "CDS SYNCED", |s| {
            s.config_version == 4 && s.get(XdsType::Cluster).state() == SyncState::Synced
        })
        .await;
    assert_eq!(status.get(XdsType::Cluster).resources.len(), 1);

    // A reconnecting proxy that already holds the current cluster gets nothing new.
    let mut again = subscribe(XdsType::Cluster, &[]);
    again.node = Some(node("client-2"));
    again.initial_resource_versions = [
        (WEB_CLUSTER.to_string(), web_version),
        (DB_CLUSTER.to_string(), "stale".into()),
    ]
    .into();
    let mut reconnected = Delta::connect(&cp, again).await;
    let cds = reconnected.recv().await;
    assert!(cds.resources.is_empty(), "{:?}", delta_names(&cds));
    assert_eq!(cds.removed_resources, [DB_CLUSTER]);
}

#[tokio::test]
async fn delta_nacks_are_recorded_and_other_types_stay_synced() {
    let cp = control_plane(Arc::new(istio_like), &[WEB]).await;
    let mut first = subscribe(XdsType::Cluster, &["*"]);
    first.node = Some(node("client-1"));
    let mut client = Delta::connect(&cp, first).await;
    let cds = client.recv().await;
    client.ack(&cds).await;
    client
        .send(subscribe(XdsType::Endpoint, &[WEB_CLUSTER]))
        .await;
    let eds = client.recv().await;
    client.ack(&eds).await;

    cp.config.send_replace(snapshot(2, &[WEB, WEB_2]));
    let eds = client.recv().await;
    assert_eq!(short(&eds.type_url), "EDS");
    client
        .send(DeltaDiscoveryRequest {
            type_url: eds.type_url.clone(),
            response_nonce: eds.nonce.clone(),
            error_detail: Some(rpc::Status {
                code: 3,
                message: "bad endpoint".into(),
                details: vec![],
            }),
            ..Default::default()
        })
        .await;
    let status = cp
        .wait_for_status("client-1.shop", "EDS NACKED", |s| {
            s.get(XdsType::Endpoint).state() == SyncState::Nacked
        })
        .await;
    assert_eq!(
        status
            .get(XdsType::Endpoint)
            .nack
            .as_ref()
            .map(|n| n.error.as_str()),
        Some("bad endpoint")
    );
    assert_eq!(status.get(XdsType::Cluster).state(), SyncState::Synced);
}

#[tokio::test]
async fn the_real_translator_serves_a_proxy() {
    // Whatever the translator makes of this model, a proxy gets answers to its
    // initial CDS and LDS requests and is SYNCED once it ACKs them.
    let cp = control_plane(
        Arc::new(mesh_control::xds::translate::translate),
        &[WEB, DB],
    )
    .await;
    let id = ProxyNode::sidecar_id("10.0.0.1", "web-1", "shop");
    let mut client = Sotw::connect(
        &cp,
        Node {
            id,
            ..Default::default()
        },
        XdsType::Cluster,
    )
    .await
    .unwrap();
    let cds = client.recv_type(XdsType::Cluster).await;
    client.ack(&cds, &[]).await;
    client.request(XdsType::Listener, &[], None, None).await;
    let lds = client.recv_type(XdsType::Listener).await;
    client.ack(&lds, &[]).await;
    cp.wait_for_status("web-1.shop", "CDS and LDS SYNCED", |s| {
        [XdsType::Cluster, XdsType::Listener]
            .iter()
            .all(|t| s.get(*t).state() == SyncState::Synced)
    })
    .await;
}
