//! Responses the proxy makes itself (no route, no upstream, timeout, direct response,
//! redirect), with Envoy's status codes and bodies.

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Response, StatusCode};

use crate::stats::ResponseFlag;

/// The error of a response body: the upstream's, or the route timeout's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the proxy sends downstream.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A response and, when the proxy made it for a failure, Envoy's response flag.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) response: Response<ProxyBody>,
    pub(super) flag: Option<ResponseFlag>,
}

pub fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A local reply: `text/plain` when it has a body, as Envoy's.
pub(super) fn local_reply(status: StatusCode, body: &str, flag: Option<ResponseFlag>) -> Reply {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    if !body.is_empty() {
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    Reply { response, flag }
}

pub(super) fn no_route() -> Reply {
    local_reply(StatusCode::NOT_FOUND, "", Some(ResponseFlag::NoRoute))
}

pub(super) fn no_cluster() -> Reply {
    local_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "",
        Some(ResponseFlag::NoClusterFound),
    )
}

pub(super) fn no_healthy_upstream() -> Reply {
    local_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "no healthy upstream",
        Some(ResponseFlag::NoHealthyUpstream),
    )
}

pub(super) fn connect_failure(reason: &str) -> Reply {
    local_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: {reason}"
        ),
        Some(ResponseFlag::UpstreamConnectionFailure),
    )
}

pub(super) fn upstream_reset(reason: &str) -> Reply {
    local_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "upstream connect error or disconnect/reset before headers. reset reason: {reason}"
        ),
        Some(ResponseFlag::UpstreamConnectionTermination),
    )
}

pub(super) fn timeout() -> Reply {
    local_reply(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream request timeout",
        Some(ResponseFlag::UpstreamRequestTimeout),
    )
}

pub(super) fn redirect(status: u16, location: &str) -> Reply {
    let mut reply = local_reply(
        StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY),
        "",
        None,
    );
    if let Ok(v) = HeaderValue::from_str(location) {
        reply.response.headers_mut().insert(LOCATION, v);
    }
    reply
}
