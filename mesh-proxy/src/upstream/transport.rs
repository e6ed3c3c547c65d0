//! How a cluster's connections travel: the cluster's `transport_socket`, or per
//! endpoint the first `transport_socket_matches` entry whose labels the endpoint's
//! `envoy.transport_socket_match` metadata has (Istio: mTLS to endpoints labelled
//! `tlsMode: istio`, plaintext to the rest). TLS wraps the TCP stream with rustls.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock};

use crate::config::{Endpoint, TransportSocket, TransportSocketMatch};
use crate::stats::Stats;
use crate::tls::TlsContexts;
use crate::transport::BoxedIo;

/// How long an upstream TLS handshake may take, beyond the TCP connect.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A cluster's transport sockets, and which one each endpoint uses.
#[derive(Debug)]
pub(super) struct UpstreamTransport {
    default: TransportSocket,
    matches: Vec<TransportSocketMatch>,
    tls: Arc<TlsContexts>,
    stats: Arc<Stats>,
    /// Each endpoint's entry in `matches` (`None`: `default`), from the last EDS
    /// update. Unknown endpoints (ORIGINAL_DST, DNS) match by no labels.
    by_endpoint: RwLock<Arc<HashMap<SocketAddr, Option<usize>>>>,
}

impl UpstreamTransport {
    pub(super) fn new(
        default: TransportSocket,
        matches: Vec<TransportSocketMatch>,
        tls: Arc<TlsContexts>,
        stats: Arc<Stats>,
    ) -> UpstreamTransport {
        UpstreamTransport {
            default,
            matches,
            tls,
            stats,
            by_endpoint: RwLock::default(),
        }
    }

    /// Whether this is the transport of `default` and `matches`.
    pub(super) fn is(&self, default: &TransportSocket, matches: &[TransportSocketMatch]) -> bool {
        &self.default == default && self.matches == matches
    }

    /// Recomputes which socket each endpoint uses (EDS changed them).
    pub(super) fn set_endpoints(&self, endpoints: &[Endpoint]) {
        if self.matches.is_empty() {
            return;
        }
        let map = endpoints
            .iter()
            .map(|e| (e.address, self.match_index(&e.transport_socket_labels)))
            .collect();
        *self
            .by_endpoint
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(map);
    }

    fn match_index(&self, labels: &BTreeMap<String, String>) -> Option<usize> {
        self.matches
            .iter()
            .position(|m| m.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
    }

    /// The socket connections to `endpoint` use.
    fn socket(&self, endpoint: SocketAddr) -> &TransportSocket {
        if self.matches.is_empty() {
            return &self.default;
        }
        let known = self
            .by_endpoint
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&endpoint)
            .copied();
        let index = known.unwrap_or_else(|| self.match_index(&BTreeMap::new()));
        index
            .and_then(|i| self.matches.get(i))
            .map_or(&self.default, |m| &m.socket)
    }

    /// Wraps a connection to `endpoint` in its transport socket.
    pub(super) async fn wrap(&self, endpoint: SocketAddr, tcp: BoxedIo) -> io::Result<BoxedIo> {
        let TransportSocket::Tls(context) = self.socket(endpoint) else {
            return Ok(tcp);
        };
        let client = self
            .tls
            .client(context)
            .map_err(|e| io::Error::other(format!("cannot originate TLS to {endpoint}: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(client.config.clone());
        let handshake = connector.connect(client.server_name.clone(), tcp);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(tls)) => {
                self.stats.upstream_ssl_handshake();
                Ok(Box::pin(tls))
            }
            Ok(Err(e)) => {
                self.stats.upstream_ssl_connection_error();
                Err(io::Error::new(
                    e.kind(),
                    format!("TLS handshake with {endpoint} failed: {e}"),
                ))
            }
            Err(_) => {
                self.stats.upstream_ssl_connection_error();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake with {endpoint} timed out"),
                ))
            }
        }
    }
}
