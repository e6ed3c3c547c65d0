//! A tiny unary gRPC service over HTTP/2 (h2c), framed by hand so no protoc or build
//! script is needed:
//!
//! ```proto
//! package mesh.sample;
//! service Echo { rpc Echo(EchoRequest) returns (EchoResponse); }
//! message EchoRequest  { string message = 1; int32 fail_code = 2; }
//! message EchoResponse { string name = 1; string version = 2; string namespace = 3;
//!                        string pod = 4; string message = 5; map<string, string> metadata = 6; }
//! ```
//!
//! The status goes in `grpc-status`/`grpc-message` trailers, which is what a proxy
//! must carry through for gRPC to work at all.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use prost::Message;
use tokio::net::TcpListener;

use crate::upstream::PROPAGATED_HEADERS;

/// Envoy's header for the caller's verified certificate.
const FORWARDED_CLIENT_CERT: &str = "x-forwarded-client-cert";
use crate::workload::Workload;

pub mod client;

/// The one method served.
pub const ECHO_PATH: &str = "/mesh.sample.Echo/Echo";

/// gRPC status codes used here.
pub mod code {
    pub const OK: i32 = 0;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const UNIMPLEMENTED: i32 = 12;
}

#[derive(Clone, PartialEq, Message)]
pub struct EchoRequest {
    #[prost(string, tag = "1")]
    pub message: String,
    /// Answer with this gRPC status instead of OK, to show retries on gRPC codes.
    #[prost(int32, tag = "2")]
    pub fail_code: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct EchoResponse {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(string, tag = "3")]
    pub namespace: String,
    #[prost(string, tag = "4")]
    pub pod: String,
    #[prost(string, tag = "5")]
    pub message: String,
    /// The propagated request headers (trace context, user) the server received, and
    /// `x-forwarded-client-cert` (the caller's identity, from its sidecar).
    #[prost(btree_map = "string, string", tag = "6")]
    pub metadata: BTreeMap<String, String>,
}

/// A gRPC response body: at most one message, then the status trailers.
#[derive(Debug)]
pub struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

/// One gRPC message in its length-prefixed frame (uncompressed).
pub fn encode_frame(message: &impl Message) -> Bytes {
    let payload = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.push(0);
    frame.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&payload);
    Bytes::from(frame)
}

/// The single message of a unary call's body.
pub fn decode_frame<M: Message + Default>(body: &[u8]) -> Result<M, String> {
    let (header, rest) = body
        .split_at_checked(5)
        .ok_or_else(|| format!("a gRPC frame needs 5 header bytes, got {}", body.len()))?;
    if header[0] != 0 {
        return Err("compressed gRPC messages are not supported".to_string());
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let payload = rest
        .get(..len)
        .ok_or_else(|| format!("gRPC frame says {len} bytes, body has {}", rest.len()))?;
    M::decode(payload).map_err(|e| format!("cannot decode the message: {e}"))
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = match (this.data.take(), this.trailers.take()) {
            (Some(data), trailers) => {
                this.trailers = trailers;
                Some(Frame::data(data))
            }
            (None, Some(trailers)) => Some(Frame::trailers(trailers)),
            (None, None) => None,
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

/// Answers one gRPC call.
pub async fn answer<B>(workload: &Workload, req: Request<B>) -> Response<GrpcBody>
where
    B: Body,
    B::Error: std::fmt::Display,
{
    let is_grpc = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !is_grpc {
        let mut response = respond(None, code::INVALID_ARGUMENT, "not a gRPC request");
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    if req.uri().path() != ECHO_PATH {
        let message = format!(
            "unknown method {}; this server has {ECHO_PATH}",
            req.uri().path()
        );
        return respond(None, code::UNIMPLEMENTED, &message);
    }
    // The caller's identity as the server's sidecar saw it (mTLS), beside the
    // propagated headers; an app does not forward it.
    let metadata = PROPAGATED_HEADERS
        .iter()
        .chain(&[FORWARDED_CLIENT_CERT])
        .filter_map(|name| {
            let value = req.headers().get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return respond(None, code::INVALID_ARGUMENT, &format!("reading: {e}")),
    };
    let request: EchoRequest = match decode_frame(&body) {
        Ok(request) => request,
        Err(e) => return respond(None, code::INVALID_ARGUMENT, &e),
    };
    if request.fail_code != code::OK {
        return respond(None, request.fail_code, "failing as asked (fail_code)");
    }
    let reply = EchoResponse {
        name: workload.name.clone(),
        version: workload.version.clone(),
        namespace: workload.namespace.clone(),
        pod: workload.pod.clone(),
        message: request.message,
        metadata,
    };
    respond(Some(encode_frame(&reply)), code::OK, "")
}

fn respond(data: Option<Bytes>, status: i32, message: &str) -> Response<GrpcBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(status));
    if let Ok(message) = HeaderValue::from_str(message)
        && !message.is_empty()
    {
        trailers.insert("grpc-message", message);
    }
    let mut response = Response::new(GrpcBody {
        data,
        trailers: Some(trailers),
    });
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

/// Serves the Echo service on `listener` (HTTP/2 with prior knowledge; HTTP/1.1 is
/// accepted too so a misrouted call gets an answer instead of a hang).
pub async fn serve(listener: TcpListener, workload: Workload) {
    let workload = Arc::new(workload);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("mesh-sample-app: accepting a gRPC connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let workload = workload.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let workload = workload.clone();
                async move { Ok::<_, Infallible>(answer(&workload, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    fn workload() -> Workload {
        Workload {
            name: "ratings".to_string(),
            version: "v1".to_string(),
            namespace: "bookinfo".to_string(),
            pod: "ratings-v1-0".to_string(),
            ip: String::new(),
        }
    }

    async fn call(path: &str, request: &EchoRequest) -> (HeaderMap, Option<EchoResponse>) {
        let req = Request::post(path)
            .header(CONTENT_TYPE, "application/grpc")
            .header("end-user", "jason")
            .body(Full::new(encode_frame(request)))
            .expect("request");
        let collected = answer(&workload(), req).await.into_body().collect().await;
        let collected = collected.expect("infallible");
        let trailers = collected.trailers().cloned().expect("trailers");
        let body = collected.to_bytes();
        let reply = (!body.is_empty()).then(|| decode_frame(&body).expect("reply"));
        (trailers, reply)
    }

    #[tokio::test]
    async fn echo_names_the_workload_with_status_ok_in_trailers() {
        let request = EchoRequest {
            message: "hi".to_string(),
            fail_code: 0,
        };
        let (trailers, reply) = call(ECHO_PATH, &request).await;
        assert_eq!(
            trailers.get("grpc-status").map(HeaderValue::as_bytes),
            Some(&b"0"[..])
        );
        let reply = reply.expect("a reply message");
        assert_eq!(
            (reply.name.as_str(), reply.version.as_str()),
            ("ratings", "v1")
        );
        assert_eq!(reply.message, "hi");
        assert_eq!(
            reply.metadata.get("end-user").map(String::as_str),
            Some("jason")
        );
    }

    #[tokio::test]
    async fn fail_code_and_unknown_methods_answer_with_their_status() {
        let failing = EchoRequest {
            message: String::new(),
            fail_code: 14,
        };
        let (trailers, reply) = call(ECHO_PATH, &failing).await;
        assert_eq!(
            trailers.get("grpc-status").map(HeaderValue::as_bytes),
            Some(&b"14"[..])
        );
        assert!(reply.is_none());
        let (trailers, _) = call("/mesh.sample.Echo/Nope", &EchoRequest::default()).await;
        assert_eq!(
            trailers.get("grpc-status").map(HeaderValue::as_bytes),
            Some(&b"12"[..])
        );
    }

    #[test]
    fn truncated_frames_are_rejected() {
        assert!(decode_frame::<EchoRequest>(&[0, 0]).is_err());
        assert!(decode_frame::<EchoRequest>(&[0, 0, 0, 0, 9, 1]).is_err());
        assert!(decode_frame::<EchoRequest>(&[1, 0, 0, 0, 0]).is_err());
    }
}
