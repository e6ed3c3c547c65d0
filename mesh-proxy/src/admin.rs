//! The admin interface (127.0.0.1:15000, Envoy's endpoints) and the health port
//! (15021, `/healthz/ready`, Istio's readiness probe).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::config::Snapshot;
use crate::proxy::{ProxyBody, Shared};

/// Serves the admin endpoints on `listener` until the process ends.
pub async fn serve_admin(listener: TcpListener, shared: Shared) {
    serve(listener, shared, admin).await;
}

/// Serves `/healthz/ready` on `listener`.
pub async fn serve_health(listener: TcpListener, shared: Shared) {
    serve(listener, shared, health).await;
}

async fn serve(
    listener: TcpListener,
    shared: Shared,
    route: fn(&Shared, &Request<Incoming>) -> Response<ProxyBody>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let resp = route(&shared, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn health(shared: &Shared, req: &Request<Incoming>) -> Response<ProxyBody> {
    match req.uri().path() {
        "/healthz/ready" if shared.snapshots.borrow().synced => text(StatusCode::OK, ""),
        "/healthz/ready" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: waiting for the first complete xDS sync\n",
        ),
        _ => text(StatusCode::NOT_FOUND, ""),
    }
}

fn admin(shared: &Shared, req: &Request<Incoming>) -> Response<ProxyBody> {
    let snapshot: Arc<Snapshot> = shared.snapshots.borrow().clone();
    match req.uri().path() {
        "/ready" if snapshot.synced => text(StatusCode::OK, "LIVE\n"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "PRE_INITIALIZING\n"),
        "/config_dump" => match serde_json::to_string_pretty(&snapshot.config_dump()) {
            Ok(json) => {
                let mut resp = text(StatusCode::OK, &json);
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        "/clusters" => text(StatusCode::OK, &clusters(&snapshot)),
        "/stats" => text(StatusCode::OK, &shared.stats.render()),
        "/quitquitquit" if req.method() == Method::POST => {
            tokio::spawn(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                std::process::exit(0);
            });
            text(StatusCode::OK, "OK\n")
        }
        "/quitquitquit" => text(StatusCode::METHOD_NOT_ALLOWED, "use POST\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "admin endpoints: /ready /config_dump /clusters /stats /quitquitquit (POST)\n",
        ),
    }
}

/// Envoy's `/clusters` text: `cluster::host:port::field::value`.
fn clusters(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    for (name, c) in &snapshot.clusters {
        out.push_str(&format!(
            "{name}::default_priority::max_connections::4294967295\n"
        ));
        for e in &c.endpoints {
            let addr: SocketAddr = e.address;
            out.push_str(&format!("{name}::{addr}::weight::{}\n", e.weight));
            out.push_str(&format!("{name}::{addr}::health_flags::healthy\n"));
        }
    }
    out
}

fn text(status: StatusCode, body: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(crate::proxy::full(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}
