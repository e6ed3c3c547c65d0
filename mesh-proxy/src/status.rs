//! The status port (15020, Istio's pilot-agent status server): the apps' probes
//! that injection rewrote (`/app-health/<container>/livez|readyz|startupz`, and the
//! hooks at `/app-lifecycle/<container>/prestopz|poststartz`), run
//! from inside the pod against the app as the kubelet would have, so that they
//! work under STRICT mTLS; and `POST /quitquitquit`, which stops the proxy (a Job's
//! app calls it when done, in the classic sidecar form, as with Istio).
//!
//! The originals come from `MESH_KUBE_APP_PROBERS` (Istio's `ISTIO_KUBE_APP_PROBERS`
//! shape, written by the injector); [`probe`] runs one.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use mesh_api::inject::AppProber;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub mod probe;

/// The rewritten probes, by path (`/app-health/reviews/readyz`).
pub type AppProbers = BTreeMap<String, AppProber>;

/// Reads `MESH_KUBE_APP_PROBERS`; empty means none.
pub fn parse_app_probers(json: &str) -> Result<AppProbers, String> {
    if json.trim().is_empty() {
        return Ok(AppProbers::new());
    }
    serde_json::from_str(json).map_err(|e| format!("not the injector's probes JSON: {e}"))
}

/// What the status server needs.
#[derive(Debug, Clone)]
pub struct StatusState {
    pub probers: Arc<AppProbers>,
    /// The pod's IP: apps are probed there, as the kubelet probes them, unless the
    /// probe names a host.
    pub pod_ip: IpAddr,
    /// Notified by `POST /quitquitquit`.
    pub quit: Arc<Notify>,
}

/// Serves the status endpoints on `listener` until the process ends.
pub async fn serve_status(listener: TcpListener, state: StatusState) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, peer, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(
    state: &StatusState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path == "/quitquitquit" {
        // Only the pod itself may stop its proxy.
        if req.method() != Method::POST {
            return text(StatusCode::METHOD_NOT_ALLOWED, "POST only\n");
        }
        if !peer.ip().is_loopback() {
            return text(StatusCode::FORBIDDEN, "only from localhost\n");
        }
        tracing::info!("POST /quitquitquit: exiting");
        state.quit.notify_one();
        return text(StatusCode::OK, "");
    }
    if !path.starts_with("/app-health/") && !path.starts_with("/app-lifecycle/") {
        return text(StatusCode::NOT_FOUND, "");
    }
    let Some(prober) = state.probers.get(path) else {
        return text(StatusCode::NOT_FOUND, "no such app probe\n");
    };
    let outcome = probe::run(prober, state.pod_ip).await;
    match outcome {
        Ok(code) => text(code, ""),
        Err(e) => {
            tracing::debug!(probe = path, "app probe failed: {e}");
            text(StatusCode::SERVICE_UNAVAILABLE, &format!("{e}\n"))
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests;
