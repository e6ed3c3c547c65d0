//! Forwarding a routed request: pick the cluster (weights), the endpoint (balance),
//! send with the route's timeout, retry as its retry policy says.

use std::net::SocketAddr;

use std::sync::Arc;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Body as _;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HOST, HeaderValue, SET_COOKIE};
use hyper::{Request, Response, Uri};

use super::deadline::DeadlineBody;
use super::headers::{forwarded, random, strip_hop_by_hop};
use super::http::Connection;
use super::local_reply::{self, BoxError, ProxyBody, Reply};
use super::mirror::shadow;
use super::request_body::Replay;
use super::retry::{backoff, retriable_response};
use super::upgrade;
use crate::balance::hash_policy::{MintedCookie, RequestHash};
use crate::balance::{LbPolicy, RequestAttributes, generate_hash};
use crate::config::{Cluster, Snapshot};
use crate::outlier::UpstreamResult;
use crate::route::{
    ClusterSpecifier, Forward, HeaderOps, RetryPolicy, Route, VirtualHost, pick_weighted,
};
use crate::stats::ResponseFlag;
use crate::upstream::{Admission, RetryAdmission};

/// Where a routed request goes.
#[derive(Debug)]
pub(super) struct Target<'a> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) virtual_host: &'a VirtualHost,
    pub(super) route: &'a Route,
    pub(super) forward: &'a Forward,
    pub(super) authority: &'a str,
    /// The normalized path and query.
    pub(super) path: &'a str,
    pub(super) use_remote_address: bool,
}

/// What one attempt came to.
enum Attempt {
    Response(Response<Incoming>),
    Failed { reply: Reply, retriable: bool },
}

pub(super) async fn forward(conn: &Connection, t: Target<'_>, mut req: Request<Incoming>) -> Reply {
    let mut upgrade = upgrade::websocket(&mut req);
    // Which cluster: the route's, or a weighted draw.
    let (cluster_name, cluster_headers, cluster_host) = match &t.forward.clusters {
        ClusterSpecifier::Cluster(name) => (name.as_str(), None, None),
        ClusterSpecifier::Weighted(clusters) => match pick_weighted(clusters, random()) {
            Some(c) => (c.name.as_str(), Some(c), c.host_rewrite.as_deref()),
            None => return local_reply::no_cluster(),
        },
    };
    let Some(cluster) = t.snapshot.clusters.get(cluster_name) else {
        return local_reply::no_cluster();
    };

    // The upstream request: headers as Envoy's router sends them.
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    if upgrade.is_some() {
        upgrade::restore_headers(&mut parts.headers);
    }
    forwarded(&mut parts.headers, conn.peer.ip(), t.use_remote_address);
    let empty = HeaderOps::default();
    // Envoy's default order: weighted cluster, route, virtual host.
    for ops in [
        cluster_headers.map_or(&empty, |c| &c.request_headers),
        &t.route.request_headers,
        &t.virtual_host.request_headers,
    ] {
        ops.apply(&mut parts.headers);
    }
    let host = cluster_host
        .or(t.forward.host_rewrite.as_deref())
        .unwrap_or(t.authority);
    if let Ok(v) = HeaderValue::from_str(host) {
        parts.headers.insert(HOST, v);
    }
    let path = t
        .forward
        .rewritten_path(&t.route.matcher, t.path)
        .unwrap_or_else(|| t.path.to_string());
    // Streamed upstream as it arrives, and kept for retries while it is small; a
    // small body of known length is read first, without a reading task (the common
    // case, and cheaper).
    let body = if body.is_end_stream() {
        None
    } else if declared_length(&parts.headers).is_some_and(|n| n <= INLINE_BODY_LIMIT) {
        match Limited::new(body, INLINE_BODY_LIMIT).collect().await {
            Ok(b) => Some(Replay::complete(b.to_bytes())),
            Err(e) => {
                return local_reply::local_reply(
                    hyper::StatusCode::BAD_REQUEST,
                    &format!("the request body could not be read: {e}"),
                    None,
                );
            }
        }
    } else {
        Some(Replay::start(body))
    };
    parts.version = hyper::Version::HTTP_11;
    if cluster.config.http2 && upgrade.is_some() {
        return local_reply::local_reply(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "a WebSocket upgrade to an HTTP/2 upstream is not supported",
            None,
        );
    }
    // HTTP/2: the Host goes as `:authority`, as Envoy sends it.
    let h2_authority = cluster.config.http2.then_some(host);
    if cluster.config.http2 {
        parts.version = hyper::Version::HTTP_2;
        parts.headers.remove(HOST);
    }

    for mirror in &t.forward.mirrors {
        if mirror.share.hit(random()) {
            shadow(
                conn,
                &t,
                mirror,
                &parts,
                host,
                &path,
                attempt_body(body.as_ref()),
            );
        }
    }
    let request_hash = consistent_hash(cluster, t.forward, &parts.headers, t.path, conn);

    // Envoy's route timeout runs from the end of the downstream request (a streamed
    // body's last byte) to the end of the response.
    let request_ended = || {
        body.as_ref()
            .and_then(|b| b.ended_at())
            .unwrap_or_else(tokio::time::Instant::now)
    };
    let attempts = async {
        // An upgrade is not retried: its connection is the stream.
        let policy = t
            .forward
            .retry_policy
            .as_ref()
            .filter(|_| upgrade.is_none());
        let mut previous: Option<SocketAddr> = None;
        let mut retries_left = policy.map_or(0, |p| p.num_retries);
        let mut backoff_round = 0u32;
        // The retry in progress, counted against `max_retries` until the next one.
        let mut _retrying: Option<RetryAdmission> = None;
        loop {
            let Some(active) = cluster.pick(previous, conn.original_dst, request_hash.hash) else {
                return local_reply::no_healthy_upstream();
            };
            previous = Some(active.address);
            // Over a circuit breaker: 503 UO, never retried (as Envoy's overflow).
            let Ok(admission) = cluster.runtime.admit().await else {
                return local_reply::overflow();
            };
            let request = upstream_request(
                &parts,
                active.address,
                h2_authority,
                &path,
                attempt_body(body.as_ref()),
            );
            let upstream_rq = conn.shared.stats.upstream_rq(cluster_name);
            let attempt = send(cluster, active.address, request, policy).await;
            upstream_rq.finish(match &attempt {
                Attempt::Response(r) => Some(r.status().as_u16()),
                Attempt::Failed { .. } => None,
            });
            cluster
                .runtime
                .record(active.address, outlier_result(&attempt));
            drop(active);
            let retry = match &attempt {
                Attempt::Response(resp) => policy.is_some_and(|p| retriable_response(p, resp)),
                Attempt::Failed { retriable, .. } => *retriable && policy.is_some(),
            };
            // A retry also needs room under `max_retries`, else the answer stands.
            // And a body that can be sent again (Envoy: retry buffer overflow).
            let replayable = body.as_ref().is_none_or(|b| b.replayable());
            let retry_slot = (retry && retries_left > 0 && replayable)
                .then(|| cluster.runtime.admit_retry())
                .flatten();
            if retry_slot.is_none() {
                return match attempt {
                    Attempt::Response(mut resp) => {
                        let upgraded = match upgrade.take() {
                            Some(down) => upgrade::tunnel(down, &mut resp),
                            None => false,
                        };
                        let mut response = resp.map(|b| {
                            let body = AdmittedBody {
                                body: b.map_err(BoxError::from).boxed(),
                                _admission: admission,
                            }
                            .boxed();
                            match t.forward.timeout {
                                Some(timeout) => {
                                    DeadlineBody::new(body, request_ended() + timeout).boxed()
                                }
                                None => body,
                            }
                        });
                        strip_hop_by_hop(response.headers_mut());
                        if upgraded {
                            upgrade::restore_headers(response.headers_mut());
                        }
                        if let Some(cookie) = &request_hash.set_cookie
                            && let Ok(v) = HeaderValue::from_str(&set_cookie(cookie))
                        {
                            response.headers_mut().append(SET_COOKIE, v);
                        }
                        for ops in [
                            cluster_headers.map_or(&empty, |c| &c.response_headers),
                            &t.route.response_headers,
                            &t.virtual_host.response_headers,
                        ] {
                            ops.apply(response.headers_mut());
                        }
                        Reply::upstream(response)
                    }
                    Attempt::Failed { reply, .. } => reply,
                };
            }
            drop(admission);
            _retrying = retry_slot;
            retries_left -= 1;
            conn.shared.stats.retry();
            if let Some(p) = policy {
                tokio::time::sleep(backoff(p.base_interval, backoff_round)).await;
            }
            backoff_round += 1;
        }
    };
    let Some(timeout) = t.forward.timeout else {
        return attempts.await;
    };
    let expired = async {
        let ended = match &body {
            Some(b) => b.ended().await,
            None => tokio::time::Instant::now(),
        };
        tokio::time::sleep_until(ended + timeout).await;
    };
    tokio::select! {
        reply = attempts => reply,
        () = expired => local_reply::timeout(),
    }
}

/// What an attempt tells outlier detection about its host.
fn outlier_result(attempt: &Attempt) -> UpstreamResult {
    match attempt {
        Attempt::Response(r) => UpstreamResult::HttpStatus(r.status().as_u16()),
        Attempt::Failed { reply, .. } => match reply.flag {
            Some(ResponseFlag::UpstreamConnectionFailure) => UpstreamResult::ConnectFailed,
            Some(ResponseFlag::UpstreamRequestTimeout) => UpstreamResult::Timeout,
            _ => UpstreamResult::RequestFailed,
        },
    }
}

/// A response body that keeps its request's circuit breaker admission until it
/// ends: the upstream connection is busy until then.
struct AdmittedBody {
    body: ProxyBody,
    _admission: Admission,
}

impl hyper::body::Body for AdmittedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The request's hash for a ring hash or maglev cluster (none for other policies,
/// as Envoy computes it only when the balancer asks).
fn consistent_hash(
    cluster: &Cluster,
    forward: &crate::route::Forward,
    headers: &hyper::HeaderMap,
    path: &str,
    conn: &Connection,
) -> RequestHash {
    let hashing = matches!(
        cluster.config.lb_config.policy,
        LbPolicy::RingHash { .. } | LbPolicy::Maglev { .. }
    );
    if !hashing || forward.hash_policies.is_empty() {
        return RequestHash::default();
    }
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    generate_hash(
        &forward.hash_policies,
        &RequestAttributes {
            headers: &pairs,
            path,
            remote_address: Some(conn.peer),
            local_address: conn.original_dst,
        },
    )
}

/// Envoy's `Set-Cookie` for a cookie its hash policy minted.
fn set_cookie(c: &MintedCookie) -> String {
    let mut out = format!("{}=\"{}\"; Max-Age={}", c.name, c.value, c.ttl.as_secs());
    if !c.path.is_empty() {
        out.push_str(&format!("; Path={}", c.path));
    }
    out.push_str("; HttpOnly");
    out
}

/// Bodies up to this size with a `content-length` are read before forwarding.
const INLINE_BODY_LIMIT: usize = 64 * 1024;

/// The request's `content-length`, if it has a valid one.
fn declared_length(headers: &hyper::HeaderMap) -> Option<usize> {
    headers
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// An attempt's request body: none, or the replay from its start.
fn attempt_body(body: Option<&Arc<Replay>>) -> ProxyBody {
    match body {
        None => Empty::new().map_err(|never| match never {}).boxed(),
        Some(replay) => replay.attempt().boxed(),
    }
}

/// The request for one attempt. Its URI names the endpoint for HTTP/1.1 (the pool's
/// key; the Host header says the rest), and the Host as `:authority` for HTTP/2
/// (sent through the endpoint's own client).
pub(super) fn upstream_request(
    parts: &hyper::http::request::Parts,
    endpoint: SocketAddr,
    h2_authority: Option<&str>,
    path: &str,
    body: ProxyBody,
) -> Request<ProxyBody> {
    let mut req = Request::new(body);
    *req.method_mut() = parts.method.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    let uri = match h2_authority {
        Some(authority) => format!("http://{authority}{path}"),
        None => format!("http://{endpoint}{path}"),
    };
    *req.uri_mut() = uri.parse::<Uri>().unwrap_or_else(|_| Uri::from_static("/"));
    req
}

/// One attempt, bounded by the per-try timeout; failures say whether the policy's
/// conditions allow another.
async fn send(
    cluster: &Cluster,
    endpoint: SocketAddr,
    request: Request<ProxyBody>,
    policy: Option<&RetryPolicy>,
) -> Attempt {
    let call = cluster.runtime.request(endpoint, request);
    let result = match policy.and_then(|p| p.per_try_timeout) {
        Some(per_try) => match tokio::time::timeout(per_try, call).await {
            Ok(r) => r,
            Err(_) => {
                let retriable =
                    policy.is_some_and(|p| p.retry_on.server_error || p.retry_on.gateway_error);
                return Attempt::Failed {
                    reply: local_reply::timeout(),
                    retriable,
                };
            }
        },
        None => call.await,
    };
    let on = policy.map(|p| p.retry_on).unwrap_or_default();
    match result {
        Ok(resp) => Attempt::Response(resp),
        Err(e) if e.is_connect() => Attempt::Failed {
            reply: local_reply::connect_failure(&error_chain(&e)),
            retriable: on.connect_failure || on.server_error || on.gateway_error || on.reset,
        },
        Err(e) => Attempt::Failed {
            reply: local_reply::upstream_reset(&error_chain(&e)),
            retriable: on.reset || on.server_error || on.gateway_error,
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
