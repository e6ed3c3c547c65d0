//! Upstream connections for the pools: TCP to the endpoint the balancer chose, from
//! the cluster's source address, within its connect timeout; and, when the cluster
//! limits requests per connection (Istio's `maxRequestsPerConnection`), a count of the
//! requests each connection has carried, so that [`RequestsPerConnection`] can retire
//! it from its pool at the limit, as Envoy does.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, capture_connection};
use hyper_util::rt::TokioIo;
use tonic::codegen::Service;

use crate::proxy::ProxyBody;
use crate::transport::BoxedIo;

/// Connects to the endpoint a request's URI names (HTTP/1.1: the pool's key), or to a
/// fixed one whatever the URI says (HTTP/2: the URI carries the Host as `:authority`).
#[derive(Debug, Clone)]
pub(super) struct Connector {
    pub(super) endpoint: Option<SocketAddr>,
    pub(super) connect_timeout: Duration,
    pub(super) source_address: Option<IpAddr>,
    /// Count each connection's requests (only when the cluster limits them: the
    /// count is handed to every response).
    pub(super) count_requests: bool,
    /// Plaintext or TLS, per endpoint.
    pub(super) transport: Arc<super::UpstreamTransport>,
}

impl Service<Uri> for Connector {
    type Response = UpstreamIo;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<UpstreamIo>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let c = self.clone();
        Box::pin(async move {
            let endpoint = match c.endpoint {
                Some(endpoint) => endpoint,
                None => endpoint_of(&uri)?,
            };
            let tcp = super::connect(endpoint, c.connect_timeout, c.source_address).await?;
            let stream = c.transport.wrap(endpoint, tcp).await?;
            Ok(UpstreamIo {
                io: TokioIo::new(stream),
                requests: c.count_requests.then(Default::default),
            })
        })
    }
}

/// The endpoint an HTTP/1.1 request's URI names (`http://10.0.0.7:8080/...`).
fn endpoint_of(uri: &Uri) -> io::Result<SocketAddr> {
    uri.authority()
        .and_then(|a| a.as_str().parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{uri}: the URI does not name an endpoint address"),
            )
        })
}

/// A connection's request count, handed to each of its responses.
#[derive(Debug, Clone, Default)]
struct RequestCount(Arc<AtomicU32>);

/// An upstream connection.
pub(super) struct UpstreamIo {
    io: TokioIo<BoxedIo>,
    requests: Option<RequestCount>,
}

impl std::fmt::Debug for UpstreamIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamIo")
            .field("counted", &self.requests.is_some())
            .finish_non_exhaustive()
    }
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        // No `HttpInfo` (hyper-util's own connector adds it): it would be copied into
        // every response's extensions, an allocation per request nobody reads.
        match &self.requests {
            Some(count) => Connected::new().extra(count.clone()),
            None => Connected::new(),
        }
    }
}

impl Read for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

/// Envoy's `max_requests_per_connection` for one request: once its connection has
/// carried that many, the pool gets it no more (it closes when idle).
pub(super) struct RequestsPerConnection {
    connection: hyper_util::client::legacy::connect::CaptureConnection,
    limit: u32,
}

impl RequestsPerConnection {
    /// Watches the connection `request` will go over, limited to `limit` requests.
    pub(super) fn watch(request: &mut hyper::Request<ProxyBody>, limit: u32) -> Self {
        RequestsPerConnection {
            connection: capture_connection(request),
            limit,
        }
    }

    /// Counts the request whose response this is.
    pub(super) fn count<B>(&self, response: &hyper::Response<B>) {
        let Some(RequestCount(count)) = response.extensions().get::<RequestCount>() else {
            return;
        };
        if count.fetch_add(1, Ordering::Relaxed) + 1 >= self.limit
            && let Some(connected) = self.connection.connection_metadata().as_ref()
        {
            connected.poison();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http1_uris_name_the_endpoint() {
        let uri: Uri = "http://10.0.0.7:8080/a?b".parse().expect("uri");
        assert_eq!(
            endpoint_of(&uri).expect("endpoint"),
            "10.0.0.7:8080".parse().expect("addr")
        );
        let v6: Uri = "http://[fd00::7]:80/".parse().expect("uri");
        assert_eq!(
            endpoint_of(&v6).expect("endpoint"),
            "[fd00::7]:80".parse().expect("addr")
        );
        let host: Uri = "http://reviews:9080/".parse().expect("uri");
        assert!(endpoint_of(&host).is_err());
    }
}
