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
    /// Set when the proxy answered itself: a gRPC client gets it as gRPC.
    pub(super) local: Option<LocalReply>,
}

/// What a local reply said, for its gRPC form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LocalReply {
    pub(super) message: String,
    /// The `grpc-status` to send; by default mapped from the HTTP status.
    pub(super) grpc_status: Option<u32>,
}

impl Reply {
    /// The upstream's response, passed on.
    pub(super) fn upstream(response: Response<ProxyBody>) -> Reply {
        Reply {
            response,
            flag: None,
            local: None,
        }
    }

    /// As Envoy's `sendLocalReply` for a gRPC request: a trailers-only response, HTTP
    /// 200 with `grpc-status` (mapped from the HTTP status unless given) and
    /// `grpc-message`, so that gRPC clients see a status rather than a protocol error.
    pub(super) fn into_grpc(self) -> Reply {
        let Some(local) = &self.local else {
            return self;
        };
        let status = local
            .grpc_status
            .unwrap_or_else(|| grpc_status_of(self.response.status()));
        let mut response = Response::new(full(Bytes::new()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from(status));
        if !local.message.is_empty()
            && let Ok(v) = HeaderValue::from_str(&percent_encode(&local.message))
        {
            headers.insert("grpc-message", v);
        }
        Reply {
            response,
            flag: self.flag,
            local: self.local,
        }
    }
}

/// Whether a request is gRPC (`content-type: application/grpc[+proto|...]`).
pub(super) fn is_grpc(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Envoy's `Grpc::Utility::httpToGrpcStatus`.
fn grpc_status_of(status: StatusCode) -> u32 {
    match status.as_u16() {
        400 => 13,             // INTERNAL
        401 => 16,             // UNAUTHENTICATED
        403 => 7,              // PERMISSION_DENIED
        404 => 12,             // UNIMPLEMENTED
        429 | 502..=504 => 14, // UNAVAILABLE
        _ => 2,                // UNKNOWN
    }
}

/// gRPC's percent-encoding of `grpc-message`: printable ASCII except `%` as is.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    Reply {
        response,
        flag,
        local: Some(LocalReply {
            message: body.to_string(),
            grpc_status: None,
        }),
    }
}

/// The fault filter's abort: Envoy's "fault filter abort", flag `FI`.
pub(super) fn fault_abort(abort: crate::route::Abort) -> Reply {
    use crate::route::Abort;
    let (status, grpc_status) = match abort {
        Abort::Http(status) => (status, None),
        Abort::Grpc(code) => (StatusCode::OK, Some(code)),
    };
    let mut reply = local_reply(
        status,
        "fault filter abort",
        Some(ResponseFlag::FaultInjected),
    );
    if let Some(local) = &mut reply.local {
        local.grpc_status = grpc_status;
    }
    reply
}

/// The CORS filter's answer to a preflight: 200 with the allow headers, no body.
pub(super) fn cors_preflight(headers: Vec<(&'static str, String)>) -> Reply {
    let mut reply = local_reply(StatusCode::OK, "", None);
    reply.set_headers(headers);
    reply
}

impl Reply {
    /// Sets each header (the CORS filter's); a value that is not a valid header is
    /// skipped.
    pub(super) fn set_headers(&mut self, headers: Vec<(&'static str, String)>) {
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                self.response.headers_mut().insert(name, v);
            }
        }
    }
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

/// A circuit breaker said no (Envoy's pool overflow).
pub(super) fn overflow() -> Reply {
    let mut reply = local_reply(
        StatusCode::SERVICE_UNAVAILABLE,
        "upstream connect error or disconnect/reset before headers. reset reason: overflow",
        Some(ResponseFlag::UpstreamOverflow),
    );
    // Envoy marks its circuit breakers' answers so that clients can tell them apart.
    reply
        .response
        .headers_mut()
        .insert("x-envoy-overloaded", HeaderValue::from_static("true"));
    reply
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_reply_to_a_grpc_request_is_a_grpc_status_in_a_200() {
        let reply = no_healthy_upstream().into_grpc();
        assert_eq!(reply.response.status(), StatusCode::OK);
        let h = reply.response.headers();
        assert_eq!(h["content-type"], "application/grpc");
        assert_eq!(h["grpc-status"], "14", "503 is UNAVAILABLE");
        assert_eq!(h["grpc-message"], "no healthy upstream");
        assert_eq!(reply.flag, Some(ResponseFlag::NoHealthyUpstream));
        assert_eq!(
            no_route().into_grpc().response.headers()["grpc-status"],
            "12"
        );
    }

    #[test]
    fn a_grpc_fault_abort_sends_its_own_status() {
        let reply = fault_abort(crate::route::Abort::Grpc(8)).into_grpc();
        assert_eq!(reply.response.headers()["grpc-status"], "8");
        assert_eq!(reply.flag, Some(ResponseFlag::FaultInjected));
        // Not a gRPC request: a plain 200 saying so, as Envoy.
        let plain = fault_abort(crate::route::Abort::Grpc(8));
        assert_eq!(plain.response.status(), StatusCode::OK);
    }

    #[test]
    fn upstream_responses_are_never_rewritten() {
        let mut response = Response::new(full("x"));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let reply = Reply::upstream(response).into_grpc();
        assert_eq!(reply.response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(percent_encode("a b%c\n"), "a b%25c%0A");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
