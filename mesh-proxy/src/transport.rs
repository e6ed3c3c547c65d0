//! A connection's transport: the byte streams the data path reads and writes, and
//! what is known of a downstream connection (addresses, SNI, ALPN, the peer's
//! verified identity). Every stage above works over any [`Io`], so that TLS is one
//! more layer around the TCP stream (linkerd2-proxy's `BoxedIo`, `meshtls`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use mesh_api::identity::SpiffeId;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::filter_chain::ConnectionInfo;
use crate::tls::PeerCertificate;

/// A byte stream the proxy can serve or send over: a TCP stream, or a TLS stream
/// around one when a transport socket asks for it.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// An upstream connection whatever its transport: one connection pool holds plain
/// and TLS connections alike (a cluster's endpoints may differ by
/// `transport_socket_matches`).
pub type BoxedIo = Pin<Box<dyn Io>>;

/// What is known of a downstream connection once its filter chain is chosen;
/// shared by every request on it.
#[derive(Debug, Clone)]
pub struct DownstreamInfo {
    /// What filter chain matching saw: source, destination, SNI, transport protocol
    /// and the ALPN the client offered.
    pub connection: ConnectionInfo,
    /// The address the connection arrived on.
    pub local: SocketAddr,
    /// The restored original destination of a captured connection: the host of
    /// ORIGINAL_DST clusters (none when the connection was not captured).
    pub original_dst: Option<SocketAddr>,
    /// The peer's identity, verified from its certificate when mutual TLS
    /// terminates here; `None` on a plaintext connection.
    pub peer_identity: Option<SpiffeId>,
    /// Whether TLS terminates here (`x-forwarded-proto: https`).
    pub tls: bool,
    /// The client certificate of a mutual TLS connection (for
    /// `x-forwarded-client-cert`); `None` otherwise.
    pub peer_certificate: Option<Arc<PeerCertificate>>,
}

impl DownstreamInfo {
    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.connection.source
    }
}

#[cfg(test)]
impl DownstreamInfo {
    /// A plaintext connection from 127.0.0.1 to 127.0.0.1:15001, for tests.
    pub(crate) fn loopback() -> DownstreamInfo {
        let local: SocketAddr = ([127, 0, 0, 1], 15001).into();
        DownstreamInfo {
            connection: ConnectionInfo {
                destination: local,
                source: ([127, 0, 0, 1], 40000).into(),
                server_name: None,
                transport_protocol: crate::config::filter_chain::RAW_BUFFER.to_string(),
                application_protocols: Vec::new(),
            },
            local,
            original_dst: None,
            peer_identity: None,
            peer_certificate: None,
            tls: false,
        }
    }
}
