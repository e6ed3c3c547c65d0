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
