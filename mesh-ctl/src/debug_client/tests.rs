//! The client against a real local HTTP server (hyper's, on 127.0.0.1:0) that
//! answers with bodies built from the shared types, and against what is not the
//! control plane's debug endpoint.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::mpsc;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1 as server_http1;
use hyper::service::service_fn;
use hyper::{Response, Uri};
use mesh_api::debug::{AdsProtocol, DiscoveryService, ProxySyncStatus, SyncState, TypeSyncStatus};

use super::*;

/// What a request to the fake endpoint looked like.
#[derive(Debug)]
struct Seen {
    uri: Uri,
    host: Option<String>,
}

/// Serves one connection on a thread of its own with `status` and `body`, and
/// reports the request it got.
fn serve_once(status: StatusCode, body: Vec<u8>) -> (SocketAddr, mpsc::Receiver<Seen>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("a local address");
    let (seen_tx, seen) = mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            listener.set_nonblocking(true).expect("non-blocking");
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            let (stream, _) = listener.accept().await.expect("a connection");
            let service = service_fn(move |request: Request<Incoming>| {
                let host = request.headers().get(header::HOST);
                let _ = seen_tx.send(Seen {
                    uri: request.uri().clone(),
                    host: host.and_then(|h| h.to_str().ok()).map(str::to_string),
                });
                let mut response = Response::new(Full::new(Bytes::from(body.clone())));
                *response.status_mut() = status;
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = server_http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    });
    (address, seen)
}

fn syncz() -> Vec<ProxySyncStatus> {
    let synced = TypeSyncStatus {
        state: SyncState::Synced,
        sent_version: Some("7-3f2a".into()),
        sent_nonce: Some("41".into()),
        acked_version: Some("7-3f2a".into()),
        error: None,
        nacked_at: None,
        resources: 12,
    };
    vec![ProxySyncStatus {
        proxy: "sidecar~10.0.0.7~productpage-v1-0.bookinfo~bookinfo.svc.cluster.local".into(),
        name: "productpage-v1-0.bookinfo".into(),
        connection: "productpage-v1-0.bookinfo-3".into(),
        connected_at: "2026-11-25T18:13:41Z".into(),
        protocol: AdsProtocol::Delta,
        control_plane_version: "0.1.0".into(),
        config_version: 7,
        types: BTreeMap::from([(DiscoveryService::Cds, synced)]),
    }]
}

fn client(address: SocketAddr) -> DebugClient {
    DebugClient::new(&format!("http://{address}/"), Duration::from_secs(5))
}

#[test]
fn reads_the_shared_types_from_a_real_server() {
    let body = serde_json::to_vec_pretty(&syncz()).expect("serializes");
    let (address, seen) = serve_once(StatusCode::OK, body);
    let read: Vec<ProxySyncStatus> = client(address)
        .get("/debug/syncz")
        .expect("the answer reads");
    assert_eq!(read, syncz());
    let seen = seen.recv().expect("the server saw the request");
    assert_eq!(seen.uri.path(), "/debug/syncz");
    assert_eq!(seen.host, Some(address.to_string()));
}

#[test]
fn an_error_answer_says_what_the_control_plane_said() {
    let error = DebugError {
        known_proxies: Some(vec![
            "sidecar~10.0.0.7~web-0.shop~shop.svc.cluster.local".into(),
        ]),
        ..DebugError::new("proxy \"db-0.shop\" is not connected to this control plane")
    };
    let body = serde_json::to_vec(&error).expect("serializes");
    let (address, seen) = serve_once(StatusCode::NOT_FOUND, body);
    let err = client(address)
        .get::<ProxySyncStatus>("/debug/config_dump?proxy=db-0.shop")
        .expect_err("a 404 is an error");
    assert_eq!(
        format!("{err:#}"),
        "proxy \"db-0.shop\" is not connected to this control plane\n\
         connected proxies:\n  sidecar~10.0.0.7~web-0.shop~shop.svc.cluster.local"
    );
    let seen = seen.recv().expect("the server saw the request");
    assert_eq!(seen.uri.query(), Some("proxy=db-0.shop"));
}

#[test]
fn a_body_that_is_not_json_names_the_endpoint_and_the_likely_mistake() {
    let (address, _seen) = serve_once(StatusCode::OK, b"<html>hello</html>".to_vec());
    let err = client(address)
        .get::<Vec<ProxySyncStatus>>("/debug/syncz")
        .expect_err("HTML is not an answer");
    let err = format!("{err:#}");
    assert!(
        err.starts_with(&format!(
            "{address}/debug/syncz answered 200 OK without JSON"
        )),
        "{err}"
    );
    assert!(err.contains("\"<html>hello</html>\""), "{err}");
    assert!(err.contains("--debug-address"), "{err}");
}

#[test]
fn json_of_another_shape_names_the_endpoint_and_the_versions() {
    let (address, _seen) = serve_once(StatusCode::OK, br#"{"proxies": []}"#.to_vec());
    let err = client(address)
        .get::<Vec<ProxySyncStatus>>("/debug/syncz")
        .expect_err("an object is not a list of proxies");
    let err = format!("{err:#}");
    assert!(
        err.starts_with(&format!(
            "{address}/debug/syncz answered 200 OK with JSON meshctl cannot read"
        )),
        "{err}"
    );
    assert!(err.contains(r#""{\"proxies\": []}""#), "{err}");
    assert!(err.contains("the same version"), "{err}");
}

#[test]
fn an_unreachable_control_plane_says_what_to_do() {
    // A port that was free a moment ago: nothing listens there now.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let err = client(address)
        .get::<Vec<ProxySyncStatus>>("/debug/syncz")
        .expect_err("nothing listens");
    let err = format!("{err:#}");
    assert!(
        err.starts_with(&format!(
            "cannot reach the control plane debug endpoint at {address}; is mesh-control running?"
        )),
        "{err}"
    );
    assert!(
        err.contains("pass --control-plane HOST:PORT (or set MESH_CONTROL_PLANE)"),
        "{err}"
    );
}

#[test]
fn a_server_that_does_not_answer_times_out() {
    // Accepts (the kernel's backlog does) but never reads or writes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("a local address");
    let silent = DebugClient::new(&address.to_string(), Duration::from_millis(200));
    let err = silent
        .get::<Vec<ProxySyncStatus>>("/debug/syncz")
        .expect_err("no answer");
    let err = format!("{err:#}");
    assert_eq!(
        err,
        format!(
            "{address}/debug/syncz did not answer within 200ms; is {address} mesh-control's \
             --debug-address?"
        )
    );
    drop(listener);
}

#[test]
fn query_values_are_percent_encoded() {
    assert_eq!(
        encode_query_value("sidecar~10.0.0.1~a.b~b.svc.cluster.local"),
        "sidecar~10.0.0.1~a.b~b.svc.cluster.local"
    );
    assert_eq!(encode_query_value("a b&c"), "a%20b%26c");
}
