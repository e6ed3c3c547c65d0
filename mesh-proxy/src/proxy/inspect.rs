//! Listener filters that look at a connection's first bytes before a filter chain is
//! chosen: Envoy's `tls_inspector` and `http_inspector`, with its
//! `listener_filters_timeout`. The bytes are peeked, never read, so that the chosen
//! network filter (HTTP codec or TCP proxy) still gets every one of them.

use std::io;
use std::task::{Context, Poll, Waker};

use tokio::io::{Interest, ReadBuf};
use tokio::net::TcpStream;

use crate::config::ListenerFilters;

mod http;
#[cfg(test)]
mod tests;
mod tls;

pub(crate) use http::http_protocol;
pub(crate) use tls::client_hello;

/// One inspector's verdict on the bytes seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Inspection<T> {
    Found(T),
    /// Not this protocol: the inspector is done and reports nothing.
    NotThis,
    NeedMore,
    /// More bytes than the inspector accepts without a verdict: close (Envoy's
    /// `client_hello_too_large`).
    TooLarge,
}

/// What the listener filters learnt, for filter chain matching.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Detected {
    pub(super) server_name: Option<String>,
    /// `tls` when a ClientHello was seen.
    pub(super) transport_protocol: Option<&'static str>,
    pub(super) application_protocols: Vec<String>,
}

/// Why the listener filters closed the connection.
#[derive(Debug, thiserror::Error)]
pub(super) enum InspectError {
    #[error("listener filters timed out (continue_on_listener_filters_timeout is false)")]
    Timeout,
    #[error("the peer closed the connection during protocol detection")]
    Closed,
    #[error("TLS ClientHello larger than {} bytes", tls::MAX_CLIENT_HELLO)]
    TooLarge,
    #[error("reading for protocol detection: {0}")]
    Io(#[from] io::Error),
}

/// Runs the configured inspectors: the TLS inspector first, then (for plaintext only)
/// the HTTP inspector, as Envoy orders Istio's listener filters.
pub(super) async fn inspect(
    stream: &TcpStream,
    filters: &ListenerFilters,
) -> Result<Detected, InspectError> {
    let mut detected = Detected::default();
    if !filters.tls_inspector && !filters.http_inspector {
        return Ok(detected);
    }
    let run = inspect_bytes(stream, filters, &mut detected);
    match filters.timeout {
        None => run.await.map(|()| detected),
        Some(t) => match tokio::time::timeout(t, run).await {
            Ok(result) => result.map(|()| detected),
            // Envoy goes on with whatever the filters that finished have set.
            Err(_) if filters.continue_on_timeout => Ok(detected),
            Err(_) => Err(InspectError::Timeout),
        },
    }
}

async fn inspect_bytes(
    stream: &TcpStream,
    filters: &ListenerFilters,
    detected: &mut Detected,
) -> Result<(), InspectError> {
    let capacity = if filters.tls_inspector {
        tls::MAX_CLIENT_HELLO
    } else {
        http::MAX_INSPECT
    };
    let mut buf = vec![0u8; capacity];
    let mut seen = 0;
    let mut tls_pending = filters.tls_inspector;
    let mut http_pending = filters.http_inspector;
    loop {
        let data = &buf[..seen];
        if tls_pending {
            match client_hello(data) {
                Inspection::Found(hello) => {
                    detected.transport_protocol = Some("tls");
                    detected.server_name = hello.server_name;
                    detected.application_protocols = hello.alpn;
                    tls_pending = false;
                    // Envoy's HTTP inspector skips connections already found to be TLS.
                    http_pending = false;
                }
                Inspection::NotThis => tls_pending = false,
                Inspection::TooLarge => return Err(InspectError::TooLarge),
                Inspection::NeedMore => {}
            }
        }
        if http_pending && !tls_pending {
            match http_protocol(data) {
                Inspection::Found(p) => {
                    detected.application_protocols = vec![p.to_string()];
                    http_pending = false;
                }
                Inspection::NotThis | Inspection::TooLarge => http_pending = false,
                Inspection::NeedMore => {}
            }
        }
        if !tls_pending && !http_pending {
            return Ok(());
        }
        let n = peek_more(stream, &mut buf, seen).await?;
        if n == seen {
            // End of stream with an undecided prefix: Envoy closes such a connection.
            return Err(InspectError::Closed);
        }
        seen = n;
    }
}

/// Waits until more than `seen` bytes can be peeked and returns how many; returns
/// `seen` when the peer has finished sending and no more will come.
///
/// A plain `peek` returns at once while any byte is buffered, so waiting for *new*
/// bytes needs the socket's readiness cleared without reading: the peek runs inside
/// `try_io`, whose readiness tick predates it, so bytes arriving after the peek are
/// never missed.
async fn peek_more(stream: &TcpStream, buf: &mut [u8], seen: usize) -> io::Result<usize> {
    loop {
        let ready = stream.ready(Interest::READABLE).await?;
        let peeked = stream.try_io(Interest::READABLE, || {
            let mut read_buf = ReadBuf::new(buf);
            match stream.poll_peek(&mut Context::from_waker(Waker::noop()), &mut read_buf) {
                Poll::Ready(Ok(n)) if n > seen || n == 0 => Ok(n),
                Poll::Ready(Ok(_)) | Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                Poll::Ready(Err(e)) => Err(e),
            }
        });
        match peeked {
            Ok(0) => return Ok(seen),
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if ready.is_read_closed() {
                    return Ok(seen);
                }
            }
            Err(e) => return Err(e),
        }
    }
}
