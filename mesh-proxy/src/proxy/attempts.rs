//! The attempts of a forwarded request: pick an endpoint, pass the circuit breakers,
//! send, and, as the retry policy says ([`super::retry`]), try again on another
//! endpoint after a back-off. Each attempt is counted in the cluster's stats and
//! told to outlier detection, and the request's record follows the last one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};

use super::forward::UpstreamHead;
use super::http::HttpConnection;
use super::local_reply::{self, ProxyBody, Reply};
use super::request_body::Replay;
use super::retry::Retries;
use crate::config::Cluster;
use crate::outlier::UpstreamResult;
use crate::route::RetryPolicy;
use crate::stream_info::{ResponseFlag, StreamInfo};
use crate::upstream::Admission;

/// What the attempts came to.
pub(super) enum Outcome {
    /// The upstream's response, with the admission its body holds until it ends.
    Response(Response<Incoming>, Admission),
    /// A local reply: no host, overflow, or the last attempt's failure.
    Local(Reply),
}

/// What one attempt came to.
pub(super) enum Attempt {
    Response(Response<Incoming>),
    Failed { reply: Reply, retriable: bool },
}

pub(super) async fn run(
    conn: &HttpConnection,
    cluster: &Arc<Cluster>,
    head: &UpstreamHead<'_>,
    body: Option<&Arc<Replay>>,
    policy: Option<&RetryPolicy>,
    hash: Option<u64>,
    info: &mut StreamInfo,
) -> Outcome {
    let h2_authority = cluster.config.http2.then_some(head.host);
    let mut retries = Retries::new(policy);
    let mut previous: Option<SocketAddr> = None;
    loop {
        let original_dst = conn.downstream.original_dst;
        let Some(active) = cluster.pick(previous, original_dst, hash) else {
            return Outcome::Local(local_reply::no_healthy_upstream());
        };
        previous = Some(active.address);
        info.upstream_host = Some(active.address);
        // Over a circuit breaker: 503 UO, never retried (as Envoy's overflow).
        let Ok(admission) = cluster.runtime.admit().await else {
            return Outcome::Local(local_reply::overflow());
        };
        let request = upstream_request(
            &head.parts,
            active.address,
            h2_authority,
            &head.path,
            self::body(body),
        );
        info.upstream_attempts += 1;
        info.upstream_request_sent.get_or_insert_with(Instant::now);
        let upstream_rq = conn.shared.stats.upstream_rq(&cluster.config.name);
        let attempt = send(cluster, active.address, request, policy).await;
        upstream_rq.finish(match &attempt {
            Attempt::Response(r) => Some(r.status().as_u16()),
            Attempt::Failed { .. } => None,
        });
        cluster
            .runtime
            .record(active.address, outlier_result(&attempt));
        drop(active);
        // A retry also needs a body that can be sent again (Envoy: retry buffer
        // overflow) and room under the cluster's `max_retries`.
        let replayable = body.is_none_or(|b| b.replayable());
        if !(replayable && retries.claim(&attempt, cluster)) {
            return match attempt {
                Attempt::Response(response) => {
                    info.upstream_response_received = Some(Instant::now());
                    Outcome::Response(response, admission)
                }
                Attempt::Failed { reply, .. } => Outcome::Local(reply),
            };
        }
        drop(admission);
        conn.shared.stats.retry();
        retries.back_off().await;
    }
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

/// An attempt's (or a mirror's) request body: none, or the replay from its start.
pub(super) fn body(body: Option<&Arc<Replay>>) -> ProxyBody {
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
