//! Envoy's `request_headers_timeout` for HTTP/1.1: from the first byte of a request
//! to the end of its headers. A client that starts a request and never finishes its
//! headers (slowloris) gets 408 and its connection closed; an idle keep-alive
//! connection is not affected. The connection's reads are watched
//! ([`HeaderTimeout`]); the connection manager says when a request's headers are in
//! and when its response is done ([`HeaderClock`]). HTTP/2 connections (prior
//! knowledge preface) are left alone: their streams are multiplexed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Envoy's answer when the headers did not arrive in time.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const H2_PREFACE_START: &[u8] = b"PRI ";

/// Whether the connection is between requests (the next byte starts a request's
/// headers) or inside one, and how many requests have started.
#[derive(Debug)]
pub(super) struct HeaderClock {
    between_requests: AtomicBool,
    /// A request may start and finish between two reads: its start is seen by the
    /// count, not by the flag.
    started: AtomicU64,
}

impl HeaderClock {
    pub(super) fn new() -> Arc<HeaderClock> {
        Arc::new(HeaderClock {
            between_requests: AtomicBool::new(true),
            started: AtomicU64::new(0),
        })
    }

    /// A request's headers are in: the timer stops.
    pub(super) fn request_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.between_requests.store(false, Ordering::Relaxed);
    }

    /// Its response is done: the next byte starts another request.
    pub(super) fn request_finished(&self) {
        self.between_requests.store(true, Ordering::Relaxed);
    }

    fn between_requests(&self) -> bool {
        self.between_requests.load(Ordering::Relaxed)
    }

    fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
}

/// A downstream connection whose request headers must arrive within `timeout` of
/// their first byte.
pub(super) struct HeaderTimeout<I> {
    io: I,
    timeout: Option<Duration>,
    clock: Arc<HeaderClock>,
    /// Running from the first byte of the current request's headers, with the
    /// count of requests started when it was set: once another starts, it is over.
    deadline: Option<(Pin<Box<Sleep>>, u64)>,
    /// The connection's first bytes while they could still be HTTP/2's preface
    /// (then the connection is left alone); `None` once they cannot.
    preface: Option<Vec<u8>>,
}

impl<I> HeaderTimeout<I> {
    pub(super) fn new(io: I, timeout: Option<Duration>, clock: Arc<HeaderClock>) -> Self {
        HeaderTimeout {
            io,
            timeout,
            clock,
            deadline: None,
            preface: Some(Vec::new()),
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> AsyncRead for HeaderTimeout<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.io).poll_read(cx, buf);
        let Some(timeout) = this.timeout else {
            return result;
        };
        if let Poll::Ready(Ok(())) = &result
            && buf.filled().len() > before
        {
            if let Some(seen) = &mut this.preface {
                let new = &buf.filled()[before..];
                let wanted = H2_PREFACE_START.len() - seen.len();
                seen.extend_from_slice(&new[..wanted.min(new.len())]);
                if seen.as_slice() == H2_PREFACE_START {
                    this.timeout = None;
                    return result;
                }
                if !H2_PREFACE_START.starts_with(seen) {
                    this.preface = None;
                }
            }
            if this.deadline.is_none() && this.clock.between_requests() {
                let sleep = Box::pin(tokio::time::sleep(timeout));
                this.deadline = Some((sleep, this.clock.started()));
            }
        }
        if this
            .deadline
            .as_ref()
            .is_some_and(|(_, armed)| *armed != this.clock.started())
        {
            this.deadline = None;
        }
        let expired = this
            .deadline
            .as_mut()
            .is_some_and(|(d, _)| d.as_mut().poll(cx).is_ready());
        if expired {
            // Best effort, as the connection is closed right after.
            let _ = Pin::new(&mut this.io).poll_write(cx, REQUEST_TIMEOUT);
            let _ = Pin::new(&mut this.io).poll_flush(cx);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "request header timeout",
            )));
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for HeaderTimeout<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests;
