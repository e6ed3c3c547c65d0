//! One accepted connection, top-down: original destination → hand-off to the
//! listener of that destination → listener filters (protocol detection) → filter
//! chain match → transport socket → network filter (HTTP connection manager or TCP
//! proxy), which from there on works over any [`Io`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::Shared;
use super::header_timeout::HeaderClock;
use super::http::{HttpConnection, serve_http};
use super::inspect::inspect;
use super::orig_dst::original_dst;
use super::tcp_proxy::{self, TcpConnection};
use crate::config::filter_chain::{ConnectionInfo, RAW_BUFFER, select};
use crate::config::{FilterChainConfig, ListenerConfig, NetworkFilter, TransportSocket};
use crate::tls::{PeerCertificate, ServerTls};
use crate::transport::{DownstreamInfo, Io};

/// How long a downstream TLS handshake may take.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves a connection accepted on `listener` until it closes.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    shared: Shared,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    // Envoy's "restored" local address: only ORIGINAL_DST clusters need it to exist.
    let restored = if listener.listener_filters.original_dst {
        original_dst(&stream, local)
    } else {
        None
    };
    let destination = restored.unwrap_or(local);
    let listener = match restored {
        Some(destination) => hand_off(listener, destination, &shared),
        None => listener,
    };
    let detected = match inspect(&stream, &listener.listener_filters).await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(listener = %listener.name, %peer, "closing: {e}");
            return;
        }
    };
    let info = ConnectionInfo {
        destination,
        source: peer,
        server_name: detected.server_name,
        transport_protocol: detected
            .transport_protocol
            .unwrap_or(RAW_BUFFER)
            .to_string(),
        application_protocols: detected.application_protocols,
    };
    let Some(chain) = filter_chain(&listener, &info) else {
        // Envoy closes connections no chain matches (`no_filter_chain_match`).
        tracing::debug!(listener = %listener.name, ?info, "no filter chain matches; closing");
        return;
    };
    tracing::debug!(listener = %listener.name, chain = %chain.name, %peer, %destination, "filter chain");
    let mut downstream = DownstreamInfo {
        connection: info,
        local,
        original_dst: restored,
        peer_identity: None,
        peer_certificate: None,
        tls: false,
    };
    match &chain.transport_socket {
        TransportSocket::Plaintext => {
            network_filter(stream, chain, &listener, Arc::new(downstream), shared).await;
        }
        TransportSocket::Tls(context) => {
            let server = match shared.tls.server(context) {
                Ok(server) => server,
                Err(e) => {
                    tracing::warn!(listener = %listener.name, chain = %chain.name, "cannot terminate TLS: {e}; closing");
                    return;
                }
            };
            let Some(tls) = handshake(stream, &server, &listener, peer).await else {
                shared.stats.ssl_connection_error();
                return;
            };
            shared.stats.ssl_handshake();
            downstream.tls = true;
            let (_, session) = tls.get_ref();
            if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
                let peer = PeerCertificate::of(leaf, server.local_uri()).map(Arc::new);
                downstream.peer_identity = peer.as_ref().and_then(|p| p.identity.clone());
                downstream.peer_certificate = peer;
            }
            network_filter(tls, chain, &listener, Arc::new(downstream), shared).await;
        }
    }
}

/// The server side of the handshake, bounded in time as Envoy's
/// `transport_socket_connect_timeout` bounds it in Istio's listeners.
async fn handshake(
    stream: TcpStream,
    server: &ServerTls,
    listener: &ListenerConfig,
    peer: SocketAddr,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    // The ClientHello first: the config depends on the ALPN it offers.
    let accept = async {
        let start =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
                .await?;
        let offered: Vec<&[u8]> = start.client_hello().alpn().into_iter().flatten().collect();
        let config = server.config_for(&offered);
        start.into_stream(config).await
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(listener = %listener.name, %peer, "TLS handshake failed: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(listener = %listener.name, %peer, "TLS handshake timed out");
            None
        }
    }
}

/// The chain's network filter, over whatever the transport socket made of the
/// connection.
async fn network_filter<I: Io>(
    io: I,
    chain: &FilterChainConfig,
    listener: &ListenerConfig,
    downstream: Arc<DownstreamInfo>,
    shared: Shared,
) {
    match &chain.filter {
        NetworkFilter::Http(hcm) => {
            let conn = HttpConnection {
                listener: Arc::from(listener.name.as_str()),
                inbound: listener.inbound,
                chain: hcm.clone(),
                downstream,
                shared,
                header_clock: HeaderClock::new(),
            };
            serve_http(io, Arc::new(conn)).await;
        }
        NetworkFilter::TcpProxy(config) => {
            let conn = TcpConnection {
                listener: listener.name.clone(),
                downstream,
            };
            tcp_proxy::proxy(io, conn, config, &shared).await;
        }
    }
}

/// A `use_original_dst` listener passes the connection to the listener on its
/// original destination (Envoy's hand-off), if there is one.
fn hand_off(
    listener: Arc<ListenerConfig>,
    destination: SocketAddr,
    shared: &Shared,
) -> Arc<ListenerConfig> {
    if !listener.hand_off {
        return listener;
    }
    let snapshot = shared.snapshots.borrow().clone();
    match snapshot.hand_off_target(destination) {
        Some(target) => target.clone(),
        None => listener,
    }
}

fn filter_chain<'a>(
    listener: &'a ListenerConfig,
    info: &ConnectionInfo,
) -> Option<&'a FilterChainConfig> {
    select(&listener.chain_matches(), info)
        .and_then(|i| listener.filter_chains.get(i))
        .or(listener.default_filter_chain.as_ref())
}
