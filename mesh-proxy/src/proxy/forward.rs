//! The router forwarding a routed request, as named stages: pick the cluster → build
//! the upstream request → prepare the body → mirror → the attempts (balance, send,
//! retry as the policy says; [`super::attempts`]) under the route timeout → finish
//! the response.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderValue, SET_COOKIE};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response};

use super::attempts::{self, Outcome};
use super::deadline::DeadlineBody;
use super::headers::{client_cert, forwarded, random, strip_hop_by_hop};
use super::http::HttpConnection;
use super::local_reply::{self, BoxError, ProxyBody, Reply};
use super::mirror::shadow;
use super::request_body::Replay;
use super::upgrade;
use crate::balance::hash_policy::{MintedCookie, RequestHash};
use crate::balance::{LbPolicy, RequestAttributes, generate_hash};
use crate::config::{Cluster, Snapshot};
use crate::route::{
    ClusterSpecifier, Forward, HeaderOps, Route, VirtualHost, WeightedCluster, pick_weighted,
};
use crate::stream_info::StreamInfo;
use crate::upstream::Admission;

/// Bodies up to this size with a `content-length` are read before forwarding.
const INLINE_BODY_LIMIT: usize = 64 * 1024;

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

/// The cluster a request goes to: the route's, or a weighted draw's with its own
/// header operations and host rewrite.
#[derive(Debug)]
pub(super) struct PickedCluster<'a> {
    pub(super) cluster: Arc<Cluster>,
    pub(super) weighted: Option<&'a WeightedCluster>,
}

/// The upstream request's head, as every attempt (and mirror) sends it.
#[derive(Debug)]
pub(super) struct UpstreamHead<'a> {
    pub(super) parts: hyper::http::request::Parts,
    /// The Host sent (HTTP/1.1) or `:authority` (HTTP/2).
    pub(super) host: &'a str,
    /// The path and query, rewritten as the route says.
    pub(super) path: String,
}

pub(super) async fn forward(
    conn: &HttpConnection,
    t: Target<'_>,
    mut req: Request<Incoming>,
    info: &mut StreamInfo,
) -> Reply {
    let mut upgrade = upgrade::websocket(&mut req);
    let picked = match pick_cluster(&t) {
        Ok(p) => p,
        Err(reply) => return *reply,
    };
    info.upstream_cluster = Some(picked.cluster.clone());
    let (parts, body) = req.into_parts();
    let head = match build_upstream_head(conn, &t, &picked, parts, upgrade.is_some()) {
        Ok(head) => head,
        Err(reply) => return *reply,
    };
    let body = match prepare_body(body, &head.parts.headers).await {
        Ok(body) => body,
        Err(reply) => return *reply,
    };
    info.request_body = body.clone();
    mirror(conn, &t, &head, body.as_ref());
    let hash = consistent_hash(
        &picked.cluster,
        t.forward,
        &head.parts.headers,
        t.path,
        conn,
    );
    // An upgrade is not retried: its connection is the stream.
    let policy = t
        .forward
        .retry_policy
        .as_ref()
        .filter(|_| upgrade.is_none());
    let attempts = attempts::run(
        conn,
        &picked.cluster,
        &head,
        body.as_ref(),
        policy,
        hash.hash,
        info,
    );
    let outcome = match t.forward.timeout {
        None => attempts.await,
        // Envoy's route timeout runs from the end of the downstream request (a
        // streamed body's last byte) to the end of the response.
        Some(timeout) => {
            let expired = async {
                let ended = match &body {
                    Some(b) => b.ended().await,
                    None => tokio::time::Instant::now(),
                };
                tokio::time::sleep_until(ended + timeout).await;
            };
            tokio::select! {
                outcome = attempts => outcome,
                () = expired => Outcome::Local(local_reply::timeout()),
            }
        }
    };
    match outcome {
        Outcome::Local(reply) => reply,
        Outcome::Response(response, admission) => {
            let request_ended = body
                .as_ref()
                .and_then(|b| b.ended_at())
                .unwrap_or_else(tokio::time::Instant::now);
            finish_response(
                response,
                admission,
                upgrade.take(),
                &t,
                &picked,
                &hash,
                request_ended,
            )
        }
    }
}

/// Stage 1: the route's cluster, or a weighted draw.
fn pick_cluster<'a>(t: &Target<'a>) -> Result<PickedCluster<'a>, Box<Reply>> {
    let (name, weighted) = match &t.forward.clusters {
        ClusterSpecifier::Cluster(name) => (name.as_str(), None),
        ClusterSpecifier::Weighted(clusters) => match pick_weighted(clusters, random()) {
            Some(c) => (c.name.as_str(), Some(c)),
            None => return Err(Box::new(local_reply::no_cluster())),
        },
    };
    match t.snapshot.clusters.get(name) {
        Some(cluster) => Ok(PickedCluster {
            cluster: cluster.clone(),
            weighted,
        }),
        None => Err(Box::new(local_reply::no_cluster())),
    }
}

/// Stage 2: the headers as Envoy's router sends them, the Host, the rewritten path,
/// and the upstream protocol.
fn build_upstream_head<'a>(
    conn: &HttpConnection,
    t: &Target<'a>,
    picked: &PickedCluster<'a>,
    mut parts: hyper::http::request::Parts,
    upgrade: bool,
) -> Result<UpstreamHead<'a>, Box<Reply>> {
    let http2 = picked.cluster.config.http2;
    if http2 && upgrade {
        return Err(Box::new(local_reply::local_reply(
            hyper::StatusCode::SERVICE_UNAVAILABLE,
            "a WebSocket upgrade to an HTTP/2 upstream is not supported",
            None,
        )));
    }
    strip_hop_by_hop(&mut parts.headers);
    if upgrade {
        upgrade::restore_headers(&mut parts.headers);
    }
    forwarded(
        &mut parts.headers,
        conn.downstream.peer().ip(),
        t.use_remote_address,
        conn.downstream.tls,
    );
    client_cert(
        &mut parts.headers,
        &conn.chain.forward_client_cert,
        conn.downstream.peer_certificate.as_deref(),
    );
    let empty = HeaderOps::default();
    // Envoy's default order: weighted cluster, route, virtual host.
    for ops in [
        picked.weighted.map_or(&empty, |c| &c.request_headers),
        &t.route.request_headers,
        &t.virtual_host.request_headers,
    ] {
        ops.apply(&mut parts.headers);
    }
    let host = picked
        .weighted
        .and_then(|c| c.host_rewrite.as_deref())
        .or(t.forward.host_rewrite.as_deref())
        .unwrap_or(t.authority);
    // HTTP/2: the Host goes as `:authority`, as Envoy sends it.
    if http2 {
        parts.version = hyper::Version::HTTP_2;
        parts.headers.remove(HOST);
    } else {
        parts.version = hyper::Version::HTTP_11;
        if let Ok(v) = HeaderValue::from_str(host) {
            parts.headers.insert(HOST, v);
        }
    }
    let path = t
        .forward
        .rewritten_path(&t.route.matcher, t.path)
        .unwrap_or_else(|| t.path.to_string());
    Ok(UpstreamHead { parts, host, path })
}

/// Stage 3: the body, streamed upstream as it arrives and kept for retries while it
/// is small; a small body of known length is read first, without a reading task
/// (the common case, and cheaper).
async fn prepare_body(
    body: Incoming,
    headers: &hyper::HeaderMap,
) -> Result<Option<Arc<Replay>>, Box<Reply>> {
    if body.is_end_stream() {
        return Ok(None);
    }
    if declared_length(headers).is_some_and(|n| n <= INLINE_BODY_LIMIT) {
        return match Limited::new(body, INLINE_BODY_LIMIT).collect().await {
            Ok(b) => Ok(Some(Replay::complete(b.to_bytes()))),
            Err(e) => Err(Box::new(local_reply::local_reply(
                hyper::StatusCode::BAD_REQUEST,
                &format!("the request body could not be read: {e}"),
                None,
            ))),
        };
    }
    Ok(Some(Replay::start(body)))
}

/// Stage 4: a copy to each mirror cluster whose share this request falls in.
fn mirror(
    conn: &HttpConnection,
    t: &Target<'_>,
    head: &UpstreamHead<'_>,
    body: Option<&Arc<Replay>>,
) {
    for m in &t.forward.mirrors {
        if m.share.hit(random()) {
            shadow(conn, t, m, head, attempts::body(body));
        }
    }
}

/// Stage 6: the upstream's response as the client gets it: the circuit breaker
/// admission held until its body ends, the route timeout on the body, hop-by-hop
/// headers out, a WebSocket tunnel joined, the minted hash cookie and the header
/// operations of the weighted cluster, route and virtual host.
fn finish_response(
    response: Response<Incoming>,
    admission: Admission,
    upgrade: Option<OnUpgrade>,
    t: &Target<'_>,
    picked: &PickedCluster<'_>,
    hash: &RequestHash,
    request_ended: tokio::time::Instant,
) -> Reply {
    let mut response = response;
    let upgraded = match upgrade {
        Some(down) => upgrade::tunnel(down, &mut response),
        None => false,
    };
    let mut response = response.map(|b| {
        let body = AdmittedBody {
            body: b.map_err(BoxError::from).boxed(),
            _admission: admission,
        }
        .boxed();
        match t.forward.timeout {
            Some(timeout) => DeadlineBody::new(body, request_ended + timeout).boxed(),
            None => body,
        }
    });
    strip_hop_by_hop(response.headers_mut());
    if upgraded {
        upgrade::restore_headers(response.headers_mut());
    }
    if let Some(cookie) = &hash.set_cookie
        && let Ok(v) = HeaderValue::from_str(&set_cookie(cookie))
    {
        response.headers_mut().append(SET_COOKIE, v);
    }
    let empty = HeaderOps::default();
    for ops in [
        picked.weighted.map_or(&empty, |c| &c.response_headers),
        &t.route.response_headers,
        &t.virtual_host.response_headers,
    ] {
        ops.apply(response.headers_mut());
    }
    Reply::upstream(response)
}

/// A response body that keeps its request's circuit breaker admission until it
/// ends: the upstream connection is busy until then.
struct AdmittedBody {
    body: ProxyBody,
    _admission: Admission,
}

impl hyper::body::Body for AdmittedBody {
    type Data = hyper::body::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<hyper::body::Bytes>, BoxError>>> {
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
    forward: &Forward,
    headers: &hyper::HeaderMap,
    path: &str,
    conn: &HttpConnection,
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
            remote_address: Some(conn.downstream.peer()),
            local_address: conn.downstream.original_dst,
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

/// The request's `content-length`, if it has a valid one.
fn declared_length(headers: &hyper::HeaderMap) -> Option<usize> {
    headers
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
