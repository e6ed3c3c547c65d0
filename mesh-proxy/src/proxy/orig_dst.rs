//! The original destination of a captured connection: iptables' nat REDIRECT rewrote
//! it to the proxy's port, and the kernel keeps the original for SO_ORIGINAL_DST.

use std::net::SocketAddr;

use socket2::SockRef;
use tokio::net::TcpStream;

/// The destination the client dialled (the local address itself when conntrack knows
/// the connection but nothing rewrote it), or `None` when the kernel has none.
pub(super) fn original_dst(stream: &TcpStream, local: SocketAddr) -> Option<SocketAddr> {
    let sock = SockRef::from(stream);
    let original = match local {
        SocketAddr::V4(_) => sock.original_dst_v4(),
        SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some() => sock.original_dst_v4(),
        SocketAddr::V6(_) => sock.original_dst_v6(),
    };
    // ENOENT (no conntrack entry): Envoy then does not restore the local address.
    original.ok().and_then(|a| a.as_socket())
}
