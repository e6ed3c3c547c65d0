//! HTTP/2 upstreams: one client per endpoint, so that a request carries its own
//! `:authority` (the Host, as Envoy sends it) while its connection goes to the
//! endpoint the balancer chose. Each client multiplexes its requests over one
//! connection, as Envoy's HTTP/2 pool does.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tonic::codegen::Service;

use crate::proxy::ProxyBody;

/// Connects to one endpoint, whatever the request's authority.
#[derive(Debug, Clone)]
pub(super) struct EndpointConnector {
    endpoint: SocketAddr,
    connect_timeout: Duration,
    source_address: Option<IpAddr>,
}

impl Service<Uri> for EndpointConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _authority: Uri) -> Self::Future {
        let c = self.clone();
        Box::pin(async move {
            super::connect(c.endpoint, c.connect_timeout, c.source_address)
                .await
                .map(TokioIo::new)
        })
    }
}

/// The HTTP/2 clients of a cluster, by endpoint.
#[derive(Debug, Default)]
pub(super) struct H2Clients {
    clients: Mutex<HashMap<SocketAddr, Client<EndpointConnector, ProxyBody>>>,
}

impl H2Clients {
    /// The client of `endpoint`, made on first use.
    pub(super) fn client(
        &self,
        endpoint: SocketAddr,
        connect_timeout: Duration,
        source_address: Option<IpAddr>,
        idle_timeout: Duration,
    ) -> Client<EndpointConnector, ProxyBody> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        // Endpoints come and go with EDS: keep the map from growing without bound.
        if clients.len() > 1024 {
            clients.clear();
        }
        clients
            .entry(endpoint)
            .or_insert_with(|| {
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(idle_timeout)
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .http2_only(true)
                    .set_host(false)
                    .build(EndpointConnector {
                        endpoint,
                        connect_timeout,
                        source_address,
                    })
            })
            .clone()
    }
}
