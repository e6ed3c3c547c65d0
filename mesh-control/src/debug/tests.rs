//! The debug endpoint's answers, without a socket, read back as meshctl reads them:
//! from the JSON sent, into the types of `mesh_api::debug`.

use mesh_api::debug::{AdsProtocol, DiscoveryService, SyncState};
use serde::de::DeserializeOwned;

use super::*;
use crate::xds::node::ProxyNode;
use crate::xds::server::AdsProtocolKind;

fn state(version: u64) -> (DebugState, watch::Sender<Arc<ConfigSnapshot>>) {
    serving(ConfigSnapshot {
        version,
        errors: vec!["bad.yaml:3 (document 1): VirtualService shop/web: spec.http[0]: oops".into()],
        ..Default::default()
    })
}

fn serving(snapshot: ConfigSnapshot) -> (DebugState, watch::Sender<Arc<ConfigSnapshot>>) {
    let (tx, config) = watch::channel(Arc::new(snapshot));
    let state = DebugState {
        config,
        registry: Arc::default(),
    };
    (state, tx)
}

fn get(state: &DebugState, path_and_query: &str) -> DebugResponse {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    state.respond(&Method::GET, path, query)
}

/// The body as sent, parsed as `T`.
fn read<T: DeserializeOwned>(response: &DebugResponse) -> T {
    let json = response.json();
    serde_json::from_slice(&json).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            std::any::type_name::<T>(),
            String::from_utf8_lossy(&json)
        )
    })
}

#[test]
fn readiness_follows_the_config() {
    let (empty, _tx) = state(0);
    assert_eq!(
        get(&empty, "/healthz/ready").status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (loaded, _tx) = state(3);
    let ready = get(&loaded, "/healthz/ready");
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(read::<Readiness>(&ready).config_version, 3);
    assert_eq!(
        read::<ServerVersion>(&get(&loaded, "/version")).version,
        env!("CARGO_PKG_VERSION")
    );
    let config: MeshConfigSummary = read(&get(&loaded, "/debug/config"));
    assert!(config.errors[0].starts_with("bad.yaml:3"), "{config:?}");
    let not_ready: DebugError = read(&get(&empty, "/healthz/ready"));
    assert_eq!(not_ready.error, "no config loaded yet");
}

#[test]
fn config_dump_of_an_unknown_proxy_names_the_known_ones() {
    let (state, _tx) = state(1);
    let id = ProxyNode::sidecar_id("10.0.0.1", "web-1", "shop");
    let node = Arc::new(ProxyNode::parse(&id, &serde_json::Value::Null).unwrap());
    let _registration = state
        .registry
        .register("web-1.shop-1".into(), node, AdsProtocolKind::Sotw);

    let missing = get(&state, "/debug/config_dump?proxy=db-0.shop");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let missing: DebugError = read(&missing);
    assert_eq!(missing.known_proxies, Some(vec![id.clone()]));
    let unnamed = get(&state, "/debug/config_dump");
    assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
    assert!(
        read::<DebugError>(&unnamed)
            .error
            .contains("name the proxy")
    );

    // By pod.namespace, and by the node id percent-encoded as clients send it.
    for query in [
        "proxy=web-1.shop",
        "proxy=sidecar%7E10.0.0.1%7Eweb-1.shop%7Eshop.svc.cluster.local",
    ] {
        let dump = get(&state, &format!("/debug/config_dump?{query}"));
        assert_eq!(dump.status, StatusCode::OK, "{query}");
        let dump: ProxyConfigDump = read(&dump);
        assert_eq!(dump.proxy, id);
        assert_eq!(dump.clusters, []);
    }

    let syncz: Vec<ProxySyncStatus> = read(&get(&state, "/debug/syncz"));
    assert_eq!(syncz[0].name, "web-1.shop");
    assert_eq!(syncz[0].protocol, AdsProtocol::Sotw);
    assert_eq!(
        syncz[0].types.keys().copied().collect::<Vec<_>>(),
        [
            DiscoveryService::Cds,
            DiscoveryService::Eds,
            DiscoveryService::Lds,
            DiscoveryService::Rds
        ]
    );
    assert_eq!(
        syncz[0].types[&DiscoveryService::Cds].state,
        SyncState::NotSent
    );
}

#[test]
fn unknown_paths_and_the_index_list_the_endpoints() {
    let (state, _tx) = state(1);
    let index: EndpointIndex = read(&get(&state, "/"));
    assert_eq!(index.endpoints, endpoints());
    let nope = get(&state, "/nope");
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    let nope: DebugError = read(&nope);
    assert_eq!(nope.error, "no such endpoint \"/nope\"");
    assert_eq!(nope.endpoints, Some(endpoints()));
    let post = state.respond(&Method::POST, "/debug/syncz", None);
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn query_parameters_are_percent_decoded() {
    assert_eq!(
        query_param("a=1&proxy=x%2Ey+z", "proxy").as_deref(),
        Some("x.y z")
    );
    assert_eq!(query_param("proxy=%zz", "proxy").as_deref(), Some("%zz"));
    assert_eq!(query_param("other=1", "proxy"), None);
}

/// Services of both origins, named and numbered target ports, a workload, and the
/// policies that bind to a service.
const MESH: &str = "
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: http-alt}, {name: grpc, port: 9090, targetPort: 9091}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1-0, namespace: bookinfo}
spec: {address: 10.0.0.1, labels: {app: reviews, version: v1}, ports: {http-alt: 8080}, serviceAccount: reviews}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v1}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: bookinfo}
spec:
  hosts: [api.payments.example]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: eu.payments.example, locality: eu/eu-1, weight: 3}]
";

#[test]
fn the_mesh_config_reads_back_equal() {
    let parsed = mesh_api::manifest::parse_file("mesh.yaml", MESH);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let objects = parsed.objects.into_iter().map(|p| Arc::new(p.object));
    let snapshot = ConfigSnapshot {
        version: 4,
        model: Arc::new(mesh_api::model::MeshModel::build(
            objects,
            Default::default(),
        )),
        ..Default::default()
    };
    let summary = model::config_summary(&snapshot);
    let (state, _tx) = serving(snapshot);
    let read_back: MeshConfigSummary = read(&get(&state, "/debug/config"));
    assert_eq!(read_back, summary);
    assert_eq!(read_back.services.len(), 2, "{read_back:#?}");
    assert_eq!(read_back.workloads[0].service_account, "reviews");
}
