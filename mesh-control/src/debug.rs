//! The control plane's debug endpoint (Istio's monitoring port, 15014): the sync
//! state and config dump of every connected proxy, the mesh model in force,
//! readiness and version. Every answer is JSON written from a type of
//! `mesh_api::debug`, the types `meshctl proxy-status` and `meshctl proxy-config`
//! read it back with; `docs/control-plane.md` documents it.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use mesh_api::debug::{
    DebugError, EndpointIndex, IssuedCertificates, MeshConfigSummary, ProxyConfigDump,
    ProxySyncStatus, Readiness, ReadinessState, ServerVersion, TokenResponse, path,
};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ConfigSnapshot;
use crate::xds::server::Registry;

mod identity;
mod model;
mod status;
mod view;

pub use identity::IdentityEndpoints;

/// What the debug endpoint reads.
#[derive(Debug, Clone)]
pub struct DebugState {
    pub config: watch::Receiver<Arc<ConfigSnapshot>>,
    pub registry: Arc<Registry>,
}

/// A status code and what the body says.
#[derive(Debug, Clone, PartialEq)]
pub struct DebugResponse {
    pub status: StatusCode,
    pub body: DebugBody,
}

/// Every body the endpoint answers with: each one a type of `mesh_api::debug`, which
/// `meshctl` reads back.
#[derive(Debug, Clone, PartialEq, Serialize)]
// Untagged: each body is written as its own type, with nothing around it.
#[serde(untagged)]
pub enum DebugBody {
    Syncz(Vec<ProxySyncStatus>),
    ConfigDump(Box<ProxyConfigDump>),
    MeshConfig(MeshConfigSummary),
    Ready(Readiness),
    Version(ServerVersion),
    Index(EndpointIndex),
    Token(TokenResponse),
    Certificates(IssuedCertificates),
    Error(DebugError),
}

/// The hint for the config dump's query in the index and in errors.
const CONFIG_DUMP_USAGE: &str = "/debug/config_dump?proxy=<node id or pod.namespace>";

impl DebugState {
    /// Answers one request from the current state.
    pub fn respond(&self, method: &Method, path: &str, query: Option<&str>) -> DebugResponse {
        if method != Method::GET && method != Method::HEAD {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                DebugError::new("only GET is supported"),
            );
        }
        match path {
            path::SYNCZ => ok(DebugBody::Syncz(
                self.registry
                    .connections()
                    .iter()
                    .map(|c| status::proxy_sync(c))
                    .collect(),
            )),
            path::CONFIG_DUMP => {
                self.config_dump(query_param(query.unwrap_or(""), path::CONFIG_DUMP_PROXY))
            }
            path::CONFIG => ok(DebugBody::MeshConfig(model::config_summary(
                &self.config.borrow(),
            ))),
            path::READY => {
                let version = self.config.borrow().version;
                if version > 0 {
                    ok(DebugBody::Ready(Readiness {
                        status: ReadinessState::Ready,
                        config_version: version,
                    }))
                } else {
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        DebugError::new("no config loaded yet"),
                    )
                }
            }
            path::VERSION => ok(DebugBody::Version(ServerVersion {
                name: "mesh-control".to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            })),
            "/" | "/debug" => ok(DebugBody::Index(EndpointIndex {
                endpoints: endpoints(),
            })),
            _ => error(
                StatusCode::NOT_FOUND,
                DebugError {
                    endpoints: Some(endpoints()),
                    ..DebugError::new(format!("no such endpoint {path:?}"))
                },
            ),
        }
    }

    fn config_dump(&self, proxy: Option<String>) -> DebugResponse {
        let known = || -> Option<Vec<String>> {
            Some(
                self.registry
                    .connections()
                    .iter()
                    .map(|c| c.node.id.clone())
                    .collect(),
            )
        };
        let Some(proxy) = proxy.filter(|p| !p.is_empty()) else {
            return error(
                StatusCode::BAD_REQUEST,
                DebugError {
                    known_proxies: known(),
                    ..DebugError::new(format!("name the proxy: {CONFIG_DUMP_USAGE}"))
                },
            );
        };
        // A proxy that reconnected may briefly have two streams: the newest is current.
        match self.registry.find(&proxy).last() {
            Some(connection) => ok(DebugBody::ConfigDump(Box::new(status::config_dump(
                connection,
            )))),
            None => error(
                StatusCode::NOT_FOUND,
                DebugError {
                    known_proxies: known(),
                    ..DebugError::new(format!(
                        "proxy {proxy:?} is not connected to this control plane; use a node id \
                         or pod.namespace from known_proxies"
                    ))
                },
            ),
        }
    }
}

impl DebugResponse {
    /// The body as sent: pretty JSON and a newline.
    pub fn json(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec_pretty(&self.body).unwrap_or_else(|e| {
            // Not expected: every body is structs, lists and maps with string or
            // integer keys, all of which JSON can hold.
            tracing::error!(error = %e, "cannot write a debug answer as JSON");
            Vec::new()
        });
        body.push(b'\n');
        body
    }
}

/// Serves the debug endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: DebugState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with_identity(listener, state, None, shutdown).await
}

/// As [`serve`], with the CA's endpoints (`/debug/tokens`, `/debug/certificates`).
pub async fn serve_with_identity(
    listener: TcpListener,
    state: DebugState,
    identity: Option<IdentityEndpoints>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
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
        let (state, identity) = (state.clone(), identity.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (state, identity) = (state.clone(), identity.clone());
                async move {
                    let response = match identity
                        .as_ref()
                        .filter(|_| IdentityEndpoints::serves(request.uri().path()))
                    {
                        Some(identity) => identity.respond(request, peer).await,
                        None => state.respond(
                            request.method(),
                            request.uri().path(),
                            request.uri().query(),
                        ),
                    };
                    Ok::<_, Infallible>(http_response(response))
                }
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
    let mut http = Response::new(Full::new(Bytes::from(response.json())));
    *http.status_mut() = response.status;
    http.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    http
}

/// The index: every path, the config dump's with its query.
fn endpoints() -> Vec<String> {
    [
        path::SYNCZ,
        CONFIG_DUMP_USAGE,
        path::CONFIG,
        path::READY,
        path::VERSION,
        path::CERTIFICATES,
        "POST /debug/tokens",
    ]
    .map(str::to_string)
    .to_vec()
}

fn ok(body: DebugBody) -> DebugResponse {
    DebugResponse {
        status: StatusCode::OK,
        body,
    }
}

fn error(status: StatusCode, error: DebugError) -> DebugResponse {
    DebugResponse {
        status,
        body: DebugBody::Error(error),
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
