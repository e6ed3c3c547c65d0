//! The control plane's debug endpoint (Istio's monitoring port, 15014): the sync
//! state and config dump of every connected proxy, the mesh model in force,
//! readiness and version. Everything is JSON; `docs/control-plane.md` documents it
//! for `meshctl proxy-status` and `meshctl proxy-config`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ConfigSnapshot;
use crate::xds::server::Registry;

mod model;
mod status;
mod view;

/// What the debug endpoint reads.
#[derive(Debug, Clone)]
pub struct DebugState {
    pub config: watch::Receiver<Arc<ConfigSnapshot>>,
    pub registry: Arc<Registry>,
}

/// A status code and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct DebugResponse {
    pub status: StatusCode,
    pub body: Value,
}

const ENDPOINTS: [&str; 5] = [
    "/debug/syncz",
    "/debug/config_dump?proxy=<node id or pod.namespace>",
    "/debug/config",
    "/healthz/ready",
    "/version",
];

impl DebugState {
    /// Answers one request from the current state.
    pub fn respond(&self, method: &Method, path: &str, query: Option<&str>) -> DebugResponse {
        if method != Method::GET && method != Method::HEAD {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "only GET is supported".into(),
            );
        }
        match path {
            "/debug/syncz" => ok(self
                .registry
                .connections()
                .iter()
                .map(|c| json!(status::ProxySync::new(c)))
                .collect()),
            "/debug/config_dump" => self.config_dump(query_param(query.unwrap_or(""), "proxy")),
            "/debug/config" => ok(model::config_summary(&self.config.borrow())),
            "/healthz/ready" => {
                let version = self.config.borrow().version;
                if version > 0 {
                    ok(json!({"status": "ready", "config_version": version}))
                } else {
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "no config loaded yet".into(),
                    )
                }
            }
            "/version" => ok(json!({"name": "mesh-control", "version": env!("CARGO_PKG_VERSION")})),
            "/" | "/debug" => ok(json!({"endpoints": ENDPOINTS})),
            _ => DebugResponse {
                status: StatusCode::NOT_FOUND,
                body: json!({"error": format!("no such endpoint {path:?}"), "endpoints": ENDPOINTS}),
            },
        }
    }

    fn config_dump(&self, proxy: Option<String>) -> DebugResponse {
        let known = || -> Vec<String> {
            self.registry
                .connections()
                .iter()
                .map(|c| c.node.id.clone())
                .collect()
        };
        let Some(proxy) = proxy.filter(|p| !p.is_empty()) else {
            return DebugResponse {
                status: StatusCode::BAD_REQUEST,
                body: json!({
                    "error": "name the proxy: /debug/config_dump?proxy=<node id or pod.namespace>",
                    "known_proxies": known(),
                }),
            };
        };
        // A proxy that reconnected may briefly have two streams: the newest is current.
        match self.registry.find(&proxy).last() {
            Some(connection) => ok(status::config_dump(connection)),
            None => DebugResponse {
                status: StatusCode::NOT_FOUND,
                body: json!({
                    "error": format!("proxy {proxy:?} is not connected to this control plane; use a node id or pod.namespace from known_proxies"),
                    "known_proxies": known(),
                }),
            },
        }
    }
}

/// Serves the debug endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: DebugState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "debug endpoint cannot accept connections");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = state.respond(
                    request.method(),
                    request.uri().path(),
                    request.uri().query(),
                );
                async move { Ok::<_, Infallible>(http_response(response)) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "debug connection ended with an error");
            }
        });
    }
}

fn http_response(response: DebugResponse) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(&response.body).unwrap_or_default();
    body.push(b'\n');
    let mut http = Response::new(Full::new(Bytes::from(body)));
    *http.status_mut() = response.status;
    http.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    http
}

fn ok(body: Value) -> DebugResponse {
    DebugResponse {
        status: StatusCode::OK,
        body,
    }
}

fn error(status: StatusCode, message: String) -> DebugResponse {
    DebugResponse {
        status,
        body: json!({"error": message}),
    }
}

/// The percent-decoded value of `key` in a query string.
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| {
            let digit = |b: &u8| (*b as char).to_digit(16);
            Some(digit(bytes.get(at)?)? * 16 + digit(bytes.get(at + 1)?)?)
        };
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if hex(i + 1).is_some() => {
                out.extend(hex(i + 1).and_then(|v| u8::try_from(v).ok()));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests;
