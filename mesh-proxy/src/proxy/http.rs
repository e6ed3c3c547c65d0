//! The HTTP connection manager: serves one downstream connection with hyper, and
//! takes each request through its stages: route → HTTP filters → router → filters
//! on the response. The request's [`StreamInfo`] is filled on the way and completes
//! with the response body ([`super::completion`]).

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use super::Shared;
use super::access_log;
use super::completion::{Completion, complete};
use super::forward::{Target, forward};
use super::header_timeout::{HeaderClock, HeaderTimeout};
use super::headers::normalize_path;
use super::http_filters::{self, FilterState};
use super::local_reply::{self, Reply};
use crate::config::{HttpChain, RouteSource, Snapshot};
use crate::route::{RequestHead, RouteAction, RouteTable};
use crate::stream_info::{RequestLog, StreamInfo};
use crate::transport::{DownstreamInfo, Io};

/// Envoy's `max_headers_count` default, which is also hyper's: set only when it
/// differs (a configured count makes hyper allocate headers on the heap).
const DEFAULT_MAX_HEADERS: usize = 100;
/// hyper's smallest HTTP/1.1 read buffer.
const MIN_BUF_SIZE: usize = 8192;

/// A downstream HTTP connection: the listener and connection manager that took it,
/// and what is known of it.
#[derive(Debug)]
pub(super) struct HttpConnection {
    pub(super) listener: Arc<str>,
    /// An inbound listener's connection: asked to finish when the proxy drains.
    pub(super) inbound: bool,
    /// Fixed for the connection's life, as Envoy's HCM config is (RDS routes are not).
    pub(super) chain: Arc<HttpChain>,
    pub(super) downstream: Arc<DownstreamInfo>,
    pub(super) shared: Shared,
    /// Tells the request header timeout when a request's headers are in and when
    /// its response is done.
    pub(super) header_clock: Arc<HeaderClock>,
}

/// Serves HTTP/1.1 and HTTP/2 with prior knowledge (told apart by the preface) on a
/// connection until it closes.
pub(super) async fn serve_http<I: Io>(io: I, conn: Arc<HttpConnection>) {
    let peer = conn.downstream.peer();
    let drain = conn.inbound.then(|| conn.shared.drain.clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Envoy's request header limits: over them, 431. HTTP/1.1's is hyper's read
    // buffer, which a request head must fit in whole (8 KiB at least).
    builder
        .http1()
        .max_buf_size(conn.chain.max_request_headers_bytes.max(MIN_BUF_SIZE));
    if conn.chain.max_headers_count != DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(conn.chain.max_headers_count);
    }
    builder.http2().max_header_list_size(
        u32::try_from(conn.chain.max_request_headers_bytes).unwrap_or(u32::MAX),
    );
    let io = HeaderTimeout::new(
        io,
        conn.chain.request_headers_timeout,
        conn.header_clock.clone(),
    );
    let service = service_fn(move |req| handle(conn.clone(), req));
    // With upgrades: a WebSocket handshake becomes a tunnel (see `upgrade`).
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
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
async fn handle(
    conn: Arc<HttpConnection>,
    req: Request<Incoming>,
) -> Result<Response<Completion>, Infallible> {
    conn.header_clock.request_started();
    let mut info = StreamInfo::new(conn.downstream.clone(), req.version());
    let grpc = local_reply::is_grpc(req.headers());
    let mut reply = serve_request(&conn, req, &mut info).await;
    if grpc {
        reply = reply.into_grpc();
    }
    info.response_code = Some(reply.response.status().as_u16());
    if let Some(flag) = reply.flag {
        info.response_flags.insert(flag);
    }
    Ok(complete(reply.response, info, conn))
}

/// One request: route it, run the HTTP filters, let the router answer, and run the
/// filters on the answer.
async fn serve_request(
    conn: &HttpConnection,
    req: Request<Incoming>,
    info: &mut StreamInfo,
) -> Reply {
    // One snapshot for the whole request: a push mid-request changes nothing for it.
    let snapshot = conn.shared.snapshots.borrow().clone();
    let chain = &conn.chain;
    let Some(table) = route_table(chain, &snapshot) else {
        return local_reply::no_route();
    };
    let authority = authority(&req);
    let raw_path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    if access_log::enabled() {
        info.request_log = Some(Box::new(RequestLog::of(
            req.method(),
            raw_path,
            &authority,
            req.headers(),
        )));
    }
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
    info.route_name = Some(route.name.clone());

    let mut filters = FilterState::default();
    if let Some(reply) =
        http_filters::on_request(&chain.http_filters, route, &req, info, &mut filters).await
    {
        return reply;
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
            let target = Target {
                snapshot: &snapshot,
                virtual_host: vh,
                route,
                forward: f,
                authority: &authority,
                path: &path,
                use_remote_address: chain.use_remote_address,
            };
            forward(conn, target, req, info).await
        }
    };
    if !matches!(route.action, RouteAction::Forward(_)) {
        route.response_headers.apply(reply.response.headers_mut());
        vh.response_headers.apply(reply.response.headers_mut());
    }
    http_filters::on_response(filters, &mut reply);
    reply
}

/// The connection manager's route table: inline, or the RDS config it names.
fn route_table(chain: &HttpChain, snapshot: &Snapshot) -> Option<Arc<RouteTable>> {
    match &chain.routes {
        RouteSource::Inline(t) => Some(t.clone()),
        RouteSource::Rds(name) => snapshot.route_tables.get(name).cloned(),
    }
}

/// The request's authority: the URI's (HTTP/2, absolute form), else the Host.
fn authority(req: &Request<Incoming>) -> String {
    req.uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| {
            req.headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
