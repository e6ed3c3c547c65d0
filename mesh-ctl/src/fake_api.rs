//! A fake API server for the tests: kube's `Client` over a `tower_test` mock service
//! (kube-rs's own pattern), answering each request with what a closure says.

use http::{Request, Response};
use kube::Client;
use kube::client::Body;

/// What the fake API server saw of a request.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    /// Path and query.
    pub(crate) uri: String,
    pub(crate) body: serde_json::Value,
}

/// A client whose every request is answered by `answer(request)`: a status and a
/// JSON body. Must be called inside a tokio runtime, which serves the requests.
pub(crate) fn client<F>(answer: F) -> Client
where
    F: Fn(&Seen) -> (u16, serde_json::Value) + Send + 'static,
{
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let seen = Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
            };
            let (status, json) = answer(&seen);
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Body::from(json.to_string().into_bytes()))
                .expect("a valid response");
            send.send_response(response);
        }
    });
    Client::new(service, "default")
}

/// A `List` of `items` as the API server sends it.
pub(crate) fn list(
    kind: &str,
    api_version: &str,
    items: Vec<serde_json::Value>,
) -> serde_json::Value {
    serde_json::json!({
        "kind": format!("{kind}List"),
        "apiVersion": api_version,
        "metadata": {"resourceVersion": "4711"},
        "items": items,
    })
}

/// The API server's 404 `Status`.
pub(crate) fn not_found(what: &str) -> (u16, serde_json::Value) {
    (
        404,
        serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{what} not found"), "reason": "NotFound", "code": 404,
        }),
    )
}
