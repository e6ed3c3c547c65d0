//! The whole port-forward path without a cluster: a fake API server (hyper) that
//! lists a mesh-control pod and answers `pods/…/portforward` with the WebSocket
//! port-forward protocol (channel byte, port frames), where a fake pod answers HTTP.
//! meshctl's debug client then reads `/version` through the local listener.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use mesh_api::debug::ServerVersion;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{self as ws};

use super::tests::control_pod;
use super::*;
use crate::debug_client::DebugClient;
use crate::fake_api::list;

const VERSION_ANSWER: &str = r#"{"name":"mesh-control","version":"0.1.0"}"#;

type Seen = Arc<Mutex<Vec<String>>>;

/// Starts the fake API server on a thread of its own; returns its address.
fn fake_api_server(seen: Seen) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("address"))
                .expect("report");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(req, seen.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
    });
    rx.recv().expect("the fake API server starts")
}

async fn answer(
    mut req: Request<Incoming>,
    seen: Seen,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = req.uri().to_string();
    seen.lock().expect("lock").push(uri.clone());
    if req.uri().path() == "/api/v1/namespaces/mesh-system/pods" {
        let pods = list(
            "Pod",
            "v1",
            vec![control_pod(
                "mesh-control-0",
                "2026-12-03T10:00:00Z",
                "Running",
                true,
            )],
        );
        return Ok(Response::new(Full::new(Bytes::from(pods.to_string()))));
    }
    if req.uri().path() == "/api/v1/namespaces/mesh-system/pods/mesh-control-0/portforward" {
        let key = req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .map(|k| derive_accept_key(k.as_bytes()))
            .unwrap_or_default();
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                fake_pod(ws, 15014).await;
            }
        });
        let response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, key)
            .header(header::SEC_WEBSOCKET_PROTOCOL, "v4.channel.k8s.io")
            .body(Full::new(Bytes::new()))
            .expect("a response");
        return Ok(response);
    }
    let mut response = Response::new(Full::new(Bytes::from("{}")));
    *response.status_mut() = StatusCode::NOT_FOUND;
    Ok(response)
}

/// The pod's side of one forward: the port frames, then one HTTP answer to the
/// request on the data channel (0).
async fn fake_pod<S>(mut ws: WebSocketStream<S>, port: u16)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let [lo, hi] = port.to_le_bytes();
    for channel in [0u8, 1] {
        if ws
            .send(ws::Message::binary(vec![channel, lo, hi]))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut request = Vec::new();
    while let Some(Ok(message)) = ws.next().await {
        if let ws::Message::Binary(bytes) = message
            && bytes.first() == Some(&0)
        {
            request.extend_from_slice(&bytes[1..]);
            if request.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    }
    if !request.starts_with(b"GET /version ") {
        return;
    }
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{VERSION_ANSWER}",
        VERSION_ANSWER.len()
    )
    .into_bytes();
    answer.insert(0, 0);
    let _ = ws.send(ws::Message::binary(answer)).await;
    let _ = ws.close(None).await;
}

#[test]
fn the_debug_client_reads_the_control_plane_through_the_forward() {
    let seen = Seen::default();
    let server = fake_api_server(seen.clone());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"http://{server}\"}}\n\
             users:\n- name: u\n  user: {{}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let cluster = ClusterArgs {
        kubeconfig: Some(kubeconfig),
        mesh_namespace: "mesh-system".to_string(),
        ..ClusterArgs::default()
    };
    let forward = start(&cluster, Target::ControlPlane, 15014).unwrap();
    assert_eq!(forward.pod, "mesh-control-0.mesh-system");
    assert!(forward.address.ip().is_loopback());

    let client = DebugClient::new(&forward.address.to_string(), Duration::from_secs(5));
    let version: ServerVersion = client.get("/version").unwrap();
    assert_eq!(version.version, "0.1.0");

    let seen = seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with("/api/v1/namespaces/mesh-system/pods?")
            && seen[0].contains("labelSelector=app.kubernetes.io%2Fname%3Dmesh-control"),
        "{seen:?}"
    );
    // The probe, then the debug client's connection: one forward each.
    let forwards = seen
        .iter()
        .filter(|u| u.contains("/mesh-control-0/portforward?") && u.ends_with("ports=15014"))
        .count();
    assert_eq!(forwards, 2, "{seen:?}");
}
