//! A scripted API server for kube's `Client` (kube-rs's `mock_tests.rs` way): each
//! exchange asserts the request (method, path and query, the fields of the body
//! that matter) and answers as kube-apiserver does, Status objects included.

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request and its answer.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    method: Method,
    uri: String,
    /// Every field here must be in the request body (null: absent); others are free.
    body: Option<Value>,
    status: StatusCode,
    reply: Reply,
}

#[derive(Debug, Clone)]
enum Reply {
    Json(Value),
    /// The request body, with these fields merged in (what a create or update returns).
    Echo(Value),
    /// The body of an earlier request of the script (what a get after a create returns).
    Recall(usize, Value),
}

/// A client whose API server is the script given to [`ApiServer::run`].
pub(crate) fn client() -> (Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), ApiServer(handle))
}

#[derive(Debug)]
pub(crate) struct ApiServer(Handle);

impl ApiServer {
    /// Answers `script` in order, then checks nothing else is asked; returns the
    /// request bodies.
    pub(crate) fn run(self, script: Vec<Exchange>) -> tokio::task::JoinHandle<Vec<Value>> {
        let mut handle = self.0;
        tokio::spawn(async move {
            let mut bodies: Vec<Value> = Vec::new();
            for (index, exchange) in script.into_iter().enumerate() {
                let (request, send) = handle
                    .next_request()
                    .await
                    .unwrap_or_else(|| panic!("request {index} never came: {exchange:?}"));
                let (parts, body) = request.into_parts();
                let uri = parts.uri.to_string();
                assert_eq!(
                    (&parts.method, uri.as_str()),
                    (&exchange.method, exchange.uri.as_str()),
                    "request {index}"
                );
                let bytes = body.collect_bytes().await.unwrap();
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                };
                if let Some(expected) = &exchange.body {
                    assert_subset(expected, &body, &format!("request {index} {uri} body"));
                }
                let reply = match exchange.reply {
                    Reply::Json(value) => value,
                    Reply::Echo(extra) => {
                        let mut echoed = body.clone();
                        merge(&mut echoed, extra);
                        echoed
                    }
                    Reply::Recall(earlier, extra) => {
                        let mut recalled = bodies[earlier].clone();
                        merge(&mut recalled, extra);
                        recalled
                    }
                };
                let response = Response::builder()
                    .status(exchange.status)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
                bodies.push(body);
            }
            bodies
        })
    }
}

impl Exchange {
    pub(crate) fn get(uri: &str) -> Exchange {
        Exchange::new(Method::GET, uri, None)
    }

    pub(crate) fn post(uri: &str, body: Value) -> Exchange {
        Exchange::new(Method::POST, uri, Some(body))
    }

    pub(crate) fn put(uri: &str, body: Value) -> Exchange {
        Exchange::new(Method::PUT, uri, Some(body))
    }

    fn new(method: Method, uri: &str, body: Option<Value>) -> Exchange {
        Exchange {
            method,
            uri: uri.to_string(),
            body,
            status: StatusCode::OK,
            reply: Reply::Json(json!({})),
        }
    }

    /// Answers `status` with `body`.
    pub(crate) fn reply(mut self, status: u16, body: Value) -> Exchange {
        self.status = StatusCode::from_u16(status).unwrap();
        self.reply = Reply::Json(body);
        self
    }

    /// Answers `status` with the request's body and `extra` merged in.
    pub(crate) fn echo(mut self, status: u16, extra: Value) -> Exchange {
        self.status = StatusCode::from_u16(status).unwrap();
        self.reply = Reply::Echo(extra);
        self
    }

    /// Answers `status` with the body of request `earlier`, and `extra` merged in.
    pub(crate) fn recall(mut self, status: u16, earlier: usize, extra: Value) -> Exchange {
        self.status = StatusCode::from_u16(status).unwrap();
        self.reply = Reply::Recall(earlier, extra);
        self
    }

    /// 404 for `resource` (plural, with its group: `leases.coordination.k8s.io`) `name`.
    pub(crate) fn not_found(self, resource: &str, name: &str) -> Exchange {
        let message = format!("{resource} \"{name}\" not found");
        self.reply(
            404,
            status_object(404, "NotFound", &message, resource, name),
        )
    }

    /// 409 AlreadyExists, for a create.
    pub(crate) fn already_exists(self, resource: &str, name: &str) -> Exchange {
        let message = format!("{resource} \"{name}\" already exists");
        self.reply(
            409,
            status_object(409, "AlreadyExists", &message, resource, name),
        )
    }

    /// 409 Conflict, for an update with a stale resourceVersion.
    pub(crate) fn conflict(self, resource: &str, name: &str) -> Exchange {
        let message = format!(
            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been \
             modified; please apply your changes to the latest version and try again"
        );
        self.reply(
            409,
            status_object(409, "Conflict", &message, resource, name),
        )
    }
}

/// A `metav1.Status` as kube-apiserver sends it with an error.
fn status_object(code: u16, reason: &str, message: &str, resource: &str, name: &str) -> Value {
    let (kind, group) = resource.split_once('.').unwrap_or((resource, ""));
    let mut details = json!({ "name": name, "kind": kind });
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    })
}

/// Panics unless every field of `expected` is in `actual` (null: absent or null).
pub(crate) fn assert_subset(expected: &Value, actual: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, want) in want {
                let have = have.get(key).unwrap_or(&Value::Null);
                assert_subset(want, have, &format!("{at}.{key}"));
            }
        }
        (want, have) => assert_eq!(want, have, "{at}"),
    }
}

fn merge(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(target), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, extra) => *target = extra,
    }
}

/// A projected ServiceAccount token as kube-apiserver signs it (RS256; the
/// signature is not checked here: the API server's review is what counts).
pub(crate) fn service_account_token(namespace: &str, service_account: &str, exp: u64) -> String {
    use base64::Engine as _;
    let part = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let header = part(json!({ "alg": "RS256", "kid": "mZ0Pf3kKx1c" }));
    let payload = part(json!({
        "aud": ["istio-ca"],
        "exp": exp,
        "iat": exp.saturating_sub(43_200),
        "iss": "https://kubernetes.default.svc.cluster.local",
        "sub": format!("system:serviceaccount:{namespace}:{service_account}"),
    }));
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

/// The TokenReview request kube sends for `token`, and the API server's answer
/// with `status`.
pub(crate) fn token_review(token: &str, audiences: &[&str], status: Value) -> Exchange {
    Exchange::post(
        "/apis/authentication.k8s.io/v1/tokenreviews?",
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": { "audiences": audiences, "token": token },
        }),
    )
    .echo(201, json!({ "status": status }))
}

/// The status of a successful review of a pod-bound token of `pod`.
pub(crate) fn authenticated(namespace: &str, service_account: &str, pod: &str) -> Value {
    json!({
        "authenticated": true,
        "user": {
            "username": format!("system:serviceaccount:{namespace}:{service_account}"),
            "uid": "8d2c9a4e-1b7f-4f0e-9a51-3e6c2d0b7a94",
            "groups": [
                "system:serviceaccounts",
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated",
            ],
            "extra": {
                "authentication.kubernetes.io/credential-id": ["JTI=5b0a3f7e-2d4c-4e1a-8f3b-9c6d1e2f0a7b"],
                "authentication.kubernetes.io/node-name": ["kind-worker"],
                "authentication.kubernetes.io/node-uid": ["2f1e0d9c-8b7a-4c6d-5e4f-3a2b1c0d9e8f"],
                "authentication.kubernetes.io/pod-name": [pod],
                "authentication.kubernetes.io/pod-uid": ["a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"],
            },
        },
        "audiences": ["istio-ca"],
    })
}
