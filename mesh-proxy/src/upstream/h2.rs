//! HTTP/2 upstreams: one client per endpoint, so that a request carries its own
//! `:authority` (the Host, as Envoy sends it) while its connection goes to the
//! endpoint the balancer chose. Each client multiplexes its requests over one
//! connection, as Envoy's HTTP/2 pool does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::connector::Connector;
use crate::proxy::ProxyBody;

/// The HTTP/2 clients of a cluster, by endpoint.
#[derive(Debug, Default)]
pub(super) struct H2Clients {
    clients: Mutex<HashMap<SocketAddr, Client<Connector, ProxyBody>>>,
}

impl H2Clients {
    /// The client of `endpoint`, made on first use; its connections are made as
    /// `connector` (the cluster's) says, to `endpoint`.
    pub(super) fn client(
        &self,
        endpoint: SocketAddr,
        connector: &Connector,
        idle_timeout: Duration,
    ) -> Client<Connector, ProxyBody> {
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
                    .build(Connector {
                        endpoint: Some(endpoint),
                        ..connector.clone()
                    })
            })
            .clone()
    }
}
