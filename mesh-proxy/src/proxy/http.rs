//! One HTTP request through the proxy: find the route, then answer locally or
//! forward upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::HOST;
use hyper::{Request, Response};

use super::Shared;
use super::forward::forward;
use super::headers::normalize_path;
use super::local_reply::{self, ProxyBody, Reply};
use crate::config::{ListenerRole, RouteSource};
use crate::route::{RequestHead, RouteAction};

/// A downstream connection: which listener accepted it and from where.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) listener: Arc<str>,
    pub(super) peer: SocketAddr,
    pub(super) shared: Shared,
}

/// The service of every downstream HTTP request.
pub(super) async fn handle(
    conn: Arc<Connection>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let reply = route_and_forward(&conn, req).await;
    let status = reply.response.status();
    conn.shared.stats.request(status.as_u16(), reply.flag);
    tracing::info!(
        target: "access",
        listener = %conn.listener,
        "\"{method} {path}\" {} {} {}ms",
        status.as_u16(),
        reply.flag.map_or("-", |f| f.short()),
        start.elapsed().as_millis()
    );
    Ok(reply.response)
}

async fn route_and_forward(conn: &Connection, req: Request<Incoming>) -> Reply {
    // One snapshot for the whole request: a push mid-request changes nothing for it.
    let snapshot = conn.shared.snapshots.borrow().clone();
    let Some(ListenerRole::Http(chain)) = snapshot.listeners.get(&*conn.listener).map(|l| &l.role)
    else {
        return local_reply::no_route();
    };
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
    reply
}
