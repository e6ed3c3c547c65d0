//! One HTTP request through the proxy: find the route, then answer locally or
//! forward upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;

use super::Shared;
use super::forward::forward;
use super::headers::normalize_path;
use super::local_reply::{self, ProxyBody, Reply};
use super::random;
use crate::config::{HttpChain, RouteSource};
use crate::route::{CorsOutcome, RequestHead, RouteAction};
use crate::stats::ResponseFlag;

/// A downstream connection: the listener and connection manager that took it, where
/// it came from and where it was going.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) listener: Arc<str>,
    /// An inbound listener's connection: asked to finish when the proxy drains.
    pub(super) inbound: bool,
    /// Fixed for the connection's life, as Envoy's HCM config is (RDS routes are not).
    pub(super) chain: Arc<HttpChain>,
    pub(super) peer: SocketAddr,
    /// The restored original destination, the host of ORIGINAL_DST clusters (none
    /// on a connection that was not captured: then such clusters have no host).
    pub(super) original_dst: Option<SocketAddr>,
    pub(super) shared: Shared,
}

/// Serves HTTP/1.1 and HTTP/2 with prior knowledge (told apart by the preface) on a
/// connection until it closes.
pub(super) async fn serve_http(stream: TcpStream, conn: Arc<Connection>) {
    let peer = conn.peer;
    let drain = conn.inbound.then(|| conn.shared.drain.clone());
    let service = service_fn(move |req| handle(conn.clone(), req));
    let builder = auto::Builder::new(TokioExecutor::new());
    // With upgrades: a WebSocket handshake becomes a tunnel (see `upgrade`).
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    // On drain, an inbound connection finishes its requests in flight, then closes
    // (HTTP/1.1 `connection: close`, HTTP/2 GOAWAY) so that the peer reconnects to
    // another endpoint; an outbound one keeps serving the app.
    let result = match drain {
        Some(drain) => drain.graceful(connection, |c| c.graceful_shutdown()).await,
        None => connection.await,
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// The service of every downstream HTTP request.
pub(super) async fn handle(
    conn: Arc<Connection>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    // Kept for the access log only when it is on (off by default): a copy per request.
    let request_line = tracing::enabled!(target: "access", tracing::Level::INFO).then(|| {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        format!("{} {path}", req.method())
    });
    let grpc = local_reply::is_grpc(req.headers());
    let mut reply = route_and_forward(&conn, req).await;
    if grpc {
        reply = reply.into_grpc();
    }
    let status = reply.response.status();
    conn.shared.stats.request(
        &conn.chain.stat_prefix,
        status.as_u16(),
        reply.flag,
        start.elapsed(),
    );
    if let Some(request_line) = request_line {
        tracing::info!(
            target: "access",
            listener = %conn.listener,
            "\"{request_line}\" {} {} {}ms",
            status.as_u16(),
            reply.flag.map_or("-", |f| f.short()),
            start.elapsed().as_millis()
        );
    }
    Ok(reply.response)
}

async fn route_and_forward(conn: &Connection, req: Request<Incoming>) -> Reply {
    // One snapshot for the whole request: a push mid-request changes nothing for it.
    let snapshot = conn.shared.snapshots.borrow().clone();
    let chain = &conn.chain;
    let table = match &chain.routes {
        RouteSource::Inline(t) => t.clone(),
        RouteSource::Rds(name) => match snapshot.route_tables.get(name) {
            Some(t) => t.clone(),
            None => return local_reply::no_route(),
        },
    };
    let authority = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            req.headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let raw_path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let path = if chain.normalize_path {
        match normalize_path(raw_path) {
            Some(p) => p,
            None => return local_reply::local_reply(hyper::StatusCode::BAD_REQUEST, "", None),
        }
    } else {
        raw_path.to_string()
    };
    let head = RequestHead {
        method: req.method().as_str(),
        scheme: "http",
        authority: &authority,
        path: &path,
        headers: req.headers(),
    };
    let Some((vh, route)) = table.route(&head) else {
        return local_reply::no_route();
    };
    // The HTTP filters before the router, in Istio's order: fault, then CORS.
    let mut delayed = false;
    if let Some(fault) = &route.fault {
        let decision = fault.decide(random(), random());
        if let Some(delay) = decision.delay {
            tokio::time::sleep(delay).await;
            delayed = true;
        }
        if let Some(abort) = decision.abort {
            return local_reply::fault_abort(abort);
        }
    }
    let cors = route
        .cors
        .as_ref()
        .map(|c| c.on_request(req.method(), req.headers(), random()));
    if let Some(CorsOutcome::Preflight(headers)) = cors {
        return local_reply::cors_preflight(headers);
    }
    let mut reply = match &route.action {
        RouteAction::DirectResponse { status, body } => {
            local_reply::local_reply(*status, body.as_deref().unwrap_or(""), None)
        }
        RouteAction::Redirect(r) => {
            let location = r.location(&route.matcher, "http", &authority, &path);
            local_reply::redirect(r.status, &location)
        }
        RouteAction::Forward(f) => {
            let target = super::forward::Target {
                snapshot: &snapshot,
                virtual_host: vh,
                route,
                forward: f,
                authority: &authority,
                path: &path,
                use_remote_address: chain.use_remote_address,
            };
            forward(conn, target, req).await
        }
    };
    if !matches!(route.action, RouteAction::Forward(_)) {
        route.response_headers.apply(reply.response.headers_mut());
        vh.response_headers.apply(reply.response.headers_mut());
    }
    if let Some(CorsOutcome::Forward(headers)) = cors {
        reply.set_headers(headers);
    }
    if delayed && reply.flag.is_none() {
        reply.flag = Some(ResponseFlag::DelayInjected);
    }
    reply
}
