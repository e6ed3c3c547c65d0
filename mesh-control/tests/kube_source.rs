//! The Kubernetes source against a scripted API server: kube's real client and
//! watcher over a mocked HTTP service (kube-rs's recommended way to test without a
//! cluster), answering list and watch requests with resourceVersions, bookmarks,
//! `410 Gone` and CRDs that come and go, as the API documents them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use mesh_api::model::MeshSettings;
use mesh_control::config::{ConfigHub, ConfigSnapshot};
use mesh_control::kube_source::{KubeSource, WatchScope};
use serde_json::{Value, json};
use tower_test::mock;

/// One scripted answer: a list (JSON object) or a watch (events, then the stream ends).
enum Reply {
    List(Value),
    /// Sent after the delay, so that a test sees the state before it.
    Watch(Duration, Vec<Value>),
}

/// Answers requests by path, in script order per path and kind (list or watch);
/// a request with nothing left in its script is held open, as an idle watch is.
#[derive(Default)]
struct Script {
    routes: Vec<(String, bool, VecDeque<Reply>)>,
    /// Every request: `GET /api/v1/services?…`.
    seen: Arc<Mutex<Vec<String>>>,
}

impl Script {
    /// Empty lists of the core kinds a test does not script.
    fn with_empty(self, paths: &[(&str, &str)]) -> Self {
        paths.iter().fold(self, |script, (path, kind)| {
            script.list(path, list(kind, "1", vec![]))
        })
    }

    fn list(mut self, path: &str, body: Value) -> Self {
        self.route(path, false).push_back(Reply::List(body));
        self
    }

    fn watch(mut self, path: &str, events: Vec<Value>) -> Self {
        self.route(path, true)
            .push_back(Reply::Watch(Duration::ZERO, events));
        self
    }

    fn watch_later(mut self, delay: Duration, path: &str, events: Vec<Value>) -> Self {
        self.route(path, true)
            .push_back(Reply::Watch(delay, events));
        self
    }

    fn route(&mut self, path: &str, watch: bool) -> &mut VecDeque<Reply> {
        if let Some(i) = self
            .routes
            .iter()
            .position(|(p, w, _)| p == path && *w == watch)
        {
            return &mut self.routes[i].2;
        }
        self.routes.push((path.to_string(), watch, VecDeque::new()));
        &mut self.routes.last_mut().expect("just pushed").2
    }

    /// Serves the script; returns the client and the log of requests.
    fn serve(self) -> (Client, Arc<Mutex<Vec<String>>>) {
        let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
        let seen = self.seen.clone();
        let mut routes = self.routes;
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some((request, send)) = handle.next_request().await {
                let uri = request.uri().clone();
                seen.lock()
                    .expect("log")
                    .push(format!("{} {uri}", request.method()));
                let watch = uri.query().is_some_and(|q| q.contains("watch=true"));
                let reply = routes
                    .iter_mut()
                    .find(|(p, w, _)| p == uri.path() && *w == watch)
                    .and_then(|(_, _, replies)| replies.pop_front());
                let (delay, body) = match reply {
                    Some(Reply::List(list)) => {
                        (Duration::ZERO, serde_json::to_vec(&list).expect("json"))
                    }
                    Some(Reply::Watch(delay, events)) => (
                        delay,
                        events
                            .iter()
                            .flat_map(|e| {
                                let mut line = serde_json::to_vec(e).expect("json");
                                line.push(b'\n');
                                line
                            })
                            .collect(),
                    ),
                    None => {
                        held.push(send);
                        continue;
                    }
                };
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    send.send_response(
                        Response::builder()
                            .status(200)
                            .header("content-type", "application/json")
                            .body(Body::from(body))
                            .expect("response"),
                    );
                });
            }
        });
        (Client::new(service, "default"), self.seen)
    }
}

fn service(name: &str, rv: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": "shop", "resourceVersion": rv},
           "spec": {"ports": [{"name": "http", "port": 80}], "clusterIP": "10.96.0.10"}})
}

fn list(kind: &str, rv: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": rv}, "items": items})
}

fn event(kind: &str, object: Value) -> Value {
    json!({"type": kind, "object": object})
}

fn bookmark(rv: &str) -> Value {
    event(
        "BOOKMARK",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"resourceVersion": rv}}),
    )
}

fn gone() -> Value {
    event(
        "ERROR",
        json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
               "message": "too old resource version: 100 (250)", "reason": "Expired", "code": 410}),
    )
}

fn crd(established: bool) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "virtualservices.networking.istio.io", "resourceVersion": "5"},
           "spec": {"group": "networking.istio.io", "scope": "Namespaced",
                    "names": {"plural": "virtualservices", "kind": "VirtualService"},
                    "versions": [{"name": "v1beta1", "served": true, "storage": false},
                                 {"name": "v1", "served": true, "storage": true}]},
           "status": {"conditions": [{"type": "Established",
                                      "status": if established {"True"} else {"False"}}]}})
}

fn virtual_service(name: &str, weight: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
           "metadata": {"name": name, "namespace": "shop", "resourceVersion": "40"},
           "spec": {"hosts": ["a"], "http": [{"route": [{"destination": {"host": "a"}, "weight": weight}]}]}})
}

const SERVICES: &str = "/api/v1/services";
const PODS: &str = "/api/v1/pods";
const SLICES: &str = "/apis/discovery.k8s.io/v1/endpointslices";
const NAMESPACES: &str = "/api/v1/namespaces";
const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const VIRTUAL_SERVICES: &str = "/apis/networking.istio.io/v1/virtualservices";

fn start(client: Client) -> Arc<ConfigHub> {
    let hub = ConfigHub::new(MeshSettings::default());
    let source = KubeSource {
        client,
        scope: WatchScope::All,
        debounce: Duration::from_millis(20),
    };
    let started = hub.clone();
    tokio::spawn(async move { source.start(started).await });
    hub
}

/// Waits until the published config satisfies `done`.
async fn until(
    hub: &ConfigHub,
    what: &str,
    done: impl Fn(&ConfigSnapshot) -> bool,
) -> Arc<ConfigSnapshot> {
    let mut rx = hub.subscribe();
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let snapshot = rx.borrow_and_update().clone();
            if done(&snapshot) {
                return snapshot;
            }
            rx.changed().await.expect("hub open");
        }
    })
    .await;
    match waited {
        Ok(snapshot) => snapshot,
        Err(_) => panic!(
            "timed out waiting for {what}; config now: {:?}",
            hub.subscribe()
                .borrow()
                .model
                .services
                .keys()
                .collect::<Vec<_>>()
        ),
    }
}

fn services(snapshot: &ConfigSnapshot) -> Vec<String> {
    snapshot
        .model
        .services
        .values()
        .map(|s| s.name.clone())
        .collect()
}

#[tokio::test]
async fn a_410_relists_and_drops_what_was_deleted_meanwhile() {
    let script = Script::default()
        .list(
            SERVICES,
            list(
                "ServiceList",
                "100",
                vec![service("a", "90"), service("b", "91")],
            ),
        )
        .watch(
            SERVICES,
            vec![
                event("ADDED", service("c", "101")),
                bookmark("150"),
                event("DELETED", service("a", "151")),
                gone(),
            ],
        )
        // The relist: `c` was deleted while the watch was gone, `d` added.
        .list(
            SERVICES,
            list(
                "ServiceList",
                "300",
                vec![service("b", "91"), service("d", "299")],
            ),
        )
        .list(CRDS, list("CustomResourceDefinitionList", "7", vec![]))
        .with_empty(&[
            (PODS, "PodList"),
            (SLICES, "EndpointSliceList"),
            (NAMESPACES, "NamespaceList"),
        ]);
    let (client, seen) = script.serve();
    let hub = start(client);

    let first = until(&hub, "the first list", |s| s.version > 0).await;
    assert_eq!(
        services(&first),
        ["a", "b"],
        "the first config is the whole first list"
    );
    until(&hub, "the relist", |s| services(s) == ["b", "d"]).await;

    let requests = seen.lock().expect("log").clone();
    let watches: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains(SERVICES) && r.contains("watch=true"))
        .collect();
    assert!(watches[0].contains("resourceVersion=100"), "{watches:?}");
    assert!(
        watches[0].contains("allowWatchBookmarks=true"),
        "{watches:?}"
    );
    let lists = requests
        .iter()
        .filter(|r| r.contains(SERVICES) && !r.contains("watch=true"))
        .count();
    assert_eq!(
        lists, 2,
        "410 Gone makes a new list, not a watch from an old version: {requests:?}"
    );
    assert!(
        watches.iter().any(|w| w.contains("resourceVersion=300")),
        "the new watch starts at the relist's version: {watches:?}"
    );
}

#[tokio::test]
async fn custom_resources_follow_their_crd_and_invalid_ones_are_reported() {
    let script = Script::default()
        .list(SERVICES, list("ServiceList", "10", vec![service("a", "9")]))
        .list(
            CRDS,
            list("CustomResourceDefinitionList", "20", vec![crd(true)]),
        )
        .list(
            VIRTUAL_SERVICES,
            list(
                "VirtualServiceList",
                "50",
                vec![
                    virtual_service("good", json!(100)),
                    virtual_service("bad", json!("heavy")),
                ],
            ),
        )
        // Later the CRD is deleted: its objects go.
        .watch_later(
            Duration::from_secs(1),
            CRDS,
            vec![bookmark("21"), event("DELETED", crd(true))],
        )
        .with_empty(&[
            (PODS, "PodList"),
            (SLICES, "EndpointSliceList"),
            (NAMESPACES, "NamespaceList"),
        ]);
    let (client, seen) = script.serve();
    let hub = start(client);

    let first = until(&hub, "the first list", |s| s.version > 0).await;
    // The status is written beside the watch, on a task of its own.
    let patched = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let seen = seen.lock().expect("log").clone();
            if seen.iter().any(|r| {
                r.starts_with(
                    "PATCH /apis/networking.istio.io/v1/namespaces/shop/virtualservices/bad/status",
                )
            }) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(patched.is_ok(), "the invalid object's status is written");
    let kinds: Vec<String> = first
        .model
        .objects
        .keys()
        .map(|r| format!("{} {}", r.kind, r.name))
        .collect();
    assert!(
        kinds.contains(&"VirtualService good".to_string()),
        "the first config waits for the CRD's objects: {kinds:?}"
    );
    assert!(
        first.errors.iter().any(|e| e
            .starts_with("Kubernetes API: VirtualService shop/bad: spec.http[0].route[0].weight")),
        "{:?}",
        first.errors
    );
    let after = until(&hub, "the CRD's removal", |s| {
        !s.model.objects.keys().any(|r| r.name == "good")
    })
    .await;
    assert!(
        after.errors.is_empty(),
        "the removed CRD's invalid object is no longer reported: {:?}",
        after.errors
    );
    assert_eq!(services(&after), ["a"]);
}

/// The objects of a small mesh, as a user would write them and as the API serves them.
const MESH: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {mesh.dev/inject: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.96.0.20, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-x1, namespace: shop, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.1.0.1], conditions: {ready: true}, targetRef: {kind: Pod, name: web-1, namespace: shop}}
- {addresses: [10.1.0.2], conditions: {ready: false}, targetRef: {kind: Pod, name: web-2, namespace: shop}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: web, containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: client-1, namespace: shop, labels: {app: client, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: client, containers: [{name: app}]}
status: {phase: Running, podIP: 10.1.0.9}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http: [{retries: {attempts: 2}, route: [{destination: {host: web, subset: v1}}]}]
---
apiVersion: networking.mesh.dev/v1alpha1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec: {host: web, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: mesh-system}
spec: {mtls: {mode: STRICT}}
"#;

/// The API paths and CRDs that serve `MESH`'s objects.
fn serve_mesh(documents: &[Value]) -> Script {
    let mut by_path: Vec<(String, String, Vec<Value>)> = Vec::new();
    let mut crds = Vec::new();
    for doc in documents {
        let api_version = doc["apiVersion"].as_str().expect("apiVersion");
        let kind = doc["kind"].as_str().expect("kind");
        let plural = format!("{}s", kind.to_lowercase()).replace("policys", "policies");
        let path = match api_version.split_once('/') {
            None => format!("/api/v1/{plural}"),
            Some((group, version)) => {
                if !group.ends_with("k8s.io") {
                    crds.push(custom_crd(group, &plural, kind, version));
                }
                format!("/apis/{group}/{version}/{plural}")
            }
        };
        let mut object = doc.clone();
        object["metadata"]["resourceVersion"] = json!("3");
        object["metadata"]["uid"] = json!(format!("uid-{}", object["metadata"]["name"]));
        match by_path.iter_mut().find(|(p, _, _)| *p == path) {
            Some((_, _, items)) => items.push(object),
            None => by_path.push((path, format!("{kind}List"), vec![object])),
        }
    }
    let mut script = Script::default().list(CRDS, list("CustomResourceDefinitionList", "2", crds));
    for (path, kind, items) in by_path {
        script = script.list(&path, list(&kind, "4", items));
    }
    script
}

fn custom_crd(group: &str, plural: &str, kind: &str, version: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": format!("{plural}.{group}"), "resourceVersion": "1"},
           "spec": {"group": group, "scope": "Namespaced", "names": {"plural": plural, "kind": kind},
                    "versions": [{"name": version, "served": true, "storage": true}]},
           "status": {"conditions": [{"type": "Established", "status": "True"}]}})
}

#[tokio::test]
async fn the_same_objects_from_files_or_the_api_give_the_same_xds() {
    use mesh_control::file_source::FileSource;
    use mesh_control::xds::node::{ProxyKind, ProxyNode};
    use mesh_control::xds::translate::translate;

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("mesh.yaml"), MESH).expect("write");
    let from_files = ConfigHub::new(MeshSettings::default());
    FileSource {
        dir: dir.path().to_path_buf(),
        debounce: Duration::from_millis(20),
    }
    .start(from_files.clone())
    .expect("file source");

    let documents: Vec<Value> = MESH
        .split("\n---\n")
        .map(|doc| serde_norway::from_str(doc).expect("yaml"))
        .collect();
    let (client, _) = serve_mesh(&documents).serve();
    let from_api = start(client);
    let api = until(&from_api, "the first list", |s| s.version > 0).await;
    let files = from_files.subscribe().borrow().clone();
    assert!(
        files.errors.is_empty() && api.errors.is_empty(),
        "{:?} {:?}",
        files.errors,
        api.errors
    );
    assert_eq!(
        files.model.objects.len(),
        documents.len(),
        "every document is an object"
    );
    assert_eq!(
        api.model.objects.keys().collect::<Vec<_>>(),
        files.model.objects.keys().collect::<Vec<_>>()
    );

    for (ip, pod) in [("10.1.0.9", "client-1"), ("10.1.0.1", "web-1")] {
        let node = ProxyNode {
            id: ProxyNode::sidecar_id(ip, pod, "shop"),
            kind: ProxyKind::Sidecar,
            ips: vec![ip.to_string()],
            workload_name: pod.to_string(),
            namespace: "shop".to_string(),
            labels: Default::default(),
            service_account: None,
            sds: true,
        };
        let by_files = translate(&files.model, &node);
        let by_api = translate(&api.model, &node);
        assert!(!by_files.clusters.is_empty() && !by_files.endpoints.is_empty());
        assert!(
            by_files == by_api,
            "{pod}: the API's objects translate differently from the files'"
        );
    }
}
