//! The ADS service at the gRPC level, framed by hand on the response side.
//!
//! tonic's generated server encodes every response into one buffer per stream that
//! keeps the capacity of the largest response it ever held: with a thousand proxies
//! and half-megabyte route configs that was over a gigabyte of idle buffers (seen
//! with heaptrack, `benches/push.rs`). Here each response is encoded once into a
//! buffer of exactly its size, handed to HTTP/2 and freed when it is sent. Requests
//! are read the same way ([`RequestStream`]): tonic's decoder also kept, per stream,
//! the capacity of the largest request (an EDS subscription of a thousand names).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf as _, BytesMut};
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use prost::Message;
use tokio::sync::mpsc;
use tonic::body::Body as GrpcBody;
use tonic::codegen::{Body, BoxFuture, Bytes, Service, http};
use tonic::server::NamedService;
use tonic::{Code, Status};

use super::Shared;
use super::connection::{AdsProtocol, accept};
use super::delta::DeltaConnection;
use super::sotw::SotwConnection;
use crate::ca::auth::{Authenticator, Caller};

const SERVICE: &str = "envoy.service.discovery.v3.AggregatedDiscoveryService";
const SOTW_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";
const DELTA_PATH: &str =
    "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/// Envoy's Aggregated Discovery Service, SotW and Delta, as a tower service for
/// tonic's server.
#[derive(Clone, Debug)]
pub struct AdsService {
    shared: Arc<Shared>,
    /// The port's policy: with an authenticator, every stream proves an identity and
    /// is served only as a node of that identity (15012); without, none (15010).
    auth: Option<Authenticator>,
}

impl AdsService {
    pub(crate) fn new(shared: Arc<Shared>, auth: Option<Authenticator>) -> AdsService {
        AdsService { shared, auth }
    }
}

impl NamedService for AdsService {
    const NAME: &'static str = SERVICE;
}

impl Service<http::Request<GrpcBody>> for AdsService {
    type Response = http::Response<GrpcBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<GrpcBody>) -> Self::Future {
        let shared = self.shared.clone();
        let auth = self.auth.clone();
        Box::pin(async move {
            // Async: a Kubernetes ServiceAccount token is reviewed by the API server.
            let caller = match &auth {
                Some(auth) => Some(
                    auth.authenticate_request(
                        request.headers(),
                        request.extensions(),
                        std::time::SystemTime::now(),
                    )
                    .await,
                ),
                None => None,
            };
            let caller = match caller.transpose() {
                Ok(caller) => caller,
                Err(status) => {
                    tracing::warn!(reason = status.message(), "ADS stream refused");
                    return Ok(status.into_http());
                }
            };
            let response = match request.uri().path() {
                SOTW_PATH => {
                    stream::<SotwConnection, DiscoveryRequest>(shared, caller, request).await
                }
                DELTA_PATH => {
                    stream::<DeltaConnection, DeltaDiscoveryRequest>(shared, caller, request).await
                }
                path => Err(Status::new(
                    Code::Unimplemented,
                    format!("{path}: this server offers only {SOTW_PATH} and {DELTA_PATH}"),
                )),
            };
            Ok(response.unwrap_or_else(Status::into_http))
        })
    }
}

/// Decodes the request stream, starts the connection and streams its responses.
async fn stream<P, Req>(
    shared: Arc<Shared>,
    caller: Option<Caller>,
    request: http::Request<GrpcBody>,
) -> Result<http::Response<GrpcBody>, Status>
where
    P: AdsProtocol<Request = Req>,
    Req: Message + Default + Send + 'static,
{
    if let Some(encoding) = request.headers().get("grpc-encoding")
        && encoding != "identity"
    {
        return Err(Status::unimplemented(format!(
            "request compression {encoding:?} is not supported; send uncompressed requests"
        )));
    }
    let requests = RequestStream::new(request.into_body());
    let responses = accept::<P>(shared, caller, requests).await?;
    let mut response = http::Response::new(GrpcBody::new(ResponseBody {
        responses,
        finished: false,
    }));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    Ok(response)
}

/// One gRPC message: the uncompressed flag, the length, the message; exactly sized.
pub(crate) fn encode_message(message: &impl Message) -> Bytes {
    let len = message.encoded_len();
    let mut buf = Vec::with_capacity(5 + len);
    buf.push(0);
    // A message over 4 GiB cannot be framed; the proxy would refuse it anyway.
    buf.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    message.encode_raw(&mut buf);
    Bytes::from(buf)
}

/// Requests larger than this are refused (tonic's default limit).
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Buffers above this size are given back once they are drained, so that an idle
/// stream holds no more than a small buffer.
const KEPT_BUFFER_BYTES: usize = 16 * 1024;

/// The requests of one stream, decoded from the HTTP/2 request body.
#[derive(Debug)]
pub(crate) struct RequestStream<M> {
    body: GrpcBody,
    buf: BytesMut,
    message: std::marker::PhantomData<fn() -> M>,
}

impl<M: Message + Default> RequestStream<M> {
    pub(crate) fn new(body: GrpcBody) -> RequestStream<M> {
        RequestStream {
            body,
            buf: BytesMut::new(),
            message: std::marker::PhantomData,
        }
    }

    /// The next request; `None` once the proxy closed its side of the stream.
    pub(crate) async fn message(&mut self) -> Result<Option<M>, Status> {
        loop {
            if let Some(message) = self.decode_buffered()? {
                return Ok(Some(message));
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(status)) => return Err(status),
                None if self.buf.is_empty() => return Ok(None),
                None => {
                    return Err(Status::internal(format!(
                        "the request stream ended inside a message ({} bytes left over)",
                        self.buf.len()
                    )));
                }
            }
        }
    }

    /// Decodes a message if the buffer holds a whole one.
    fn decode_buffered(&mut self) -> Result<Option<M>, Status> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        if self.buf[0] != 0 {
            return Err(Status::unimplemented(
                "compressed requests are not supported; send uncompressed requests",
            ));
        }
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_REQUEST_BYTES {
            return Err(Status::resource_exhausted(format!(
                "a request of {len} bytes is over the limit of {MAX_REQUEST_BYTES}"
            )));
        }
        if self.buf.len() < 5 + len {
            self.buf.reserve(5 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(5);
        let message = M::decode(&self.buf[..len])
            .map_err(|e| Status::internal(format!("cannot decode the request: {e}")))?;
        self.buf.advance(len);
        if self.buf.is_empty() && self.buf.capacity() > KEPT_BUFFER_BYTES {
            self.buf = BytesMut::new();
        }
        Ok(Some(message))
    }
}

/// The response stream: encoded messages from the connection, then the trailers.
struct ResponseBody {
    responses: mpsc::Receiver<Result<Bytes, Status>>,
    finished: bool,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        let status = match this.responses.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(message))) => return Poll::Ready(Some(Ok(Frame::data(message)))),
            Poll::Ready(Some(Err(status))) => status,
            // The connection ended the stream (the proxy left or the server stops).
            Poll::Ready(None) => Status::ok(""),
        };
        this.finished = true;
        let mut trailers = http::HeaderMap::new();
        match status.add_header(&mut trailers) {
            Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Err(status) => Poll::Ready(Some(Err(status))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests;
