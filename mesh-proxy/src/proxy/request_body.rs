//! The request body on its way upstream: streamed as it arrives (gRPC streams,
//! uploads of unknown length), and kept while it is small enough so that a retry
//! can send it again, as Envoy's router buffers for retries.
//!
//! One task reads the downstream body into a [`Replay`]; each attempt reads the
//! replay from the start through a [`ReplayBody`]. Once more than the retry buffer
//! limit has been read by an attempt and dropped, the body can no longer be sent
//! again, and a failed attempt is not retried (Envoy's "retry buffer overflow").

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::local_reply::BoxError;

/// How much of a request body is kept for retries (Envoy's default
/// `per_request_buffer_limit_bytes`-like bound); beyond it the body streams on
/// without a copy and the request is not retried.
pub(super) const RETRY_BUFFER_LIMIT: usize = 1 << 20;

/// The downstream body, read once, replayable while it fits the retry buffer.
#[derive(Debug)]
pub(crate) struct Replay {
    state: Mutex<ReplayState>,
    /// Wakes the reading task when an attempt took data (room in the buffer), or
    /// when the replay is dropped (nobody will read: the task stops).
    room: Arc<Notify>,
    /// When the downstream body ended (or failed): Envoy's route timeout runs from
    /// there.
    ended: watch::Sender<Option<Instant>>,
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.room.notify_one();
    }
}

#[derive(Debug, Default)]
struct ReplayState {
    /// Chunks from index `dropped` on.
    chunks: VecDeque<Bytes>,
    dropped: usize,
    bytes: usize,
    /// Every byte read from downstream (Envoy's `%BYTES_RECEIVED%`).
    received: u64,
    /// Set once the body ended: its trailers, or why it failed.
    end: Option<Result<Option<HeaderMap>, String>>,
    /// The attempts (and mirrors) waiting for data.
    readers: Vec<Waker>,
    /// The furthest chunk an attempt has read.
    read_upto: usize,
}

impl Replay {
    /// Starts reading `body` in the background.
    pub(super) fn start<B>(body: B) -> Arc<Replay>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: std::fmt::Display,
    {
        let room = Arc::new(Notify::new());
        let replay = Arc::new(Replay {
            state: Mutex::new(ReplayState::default()),
            room: room.clone(),
            ended: watch::Sender::new(None),
        });
        tokio::spawn(read(body, Arc::downgrade(&replay), room));
        replay
    }

    /// A body that has already arrived whole: nothing to read in the background.
    pub(super) fn complete(body: Bytes) -> Arc<Replay> {
        let state = ReplayState {
            bytes: body.len(),
            received: body.len() as u64,
            chunks: VecDeque::from([body]),
            end: Some(Ok(None)),
            ..Default::default()
        };
        Arc::new(Replay {
            state: Mutex::new(state),
            room: Arc::new(Notify::new()),
            ended: watch::Sender::new(Some(Instant::now())),
        })
    }

    /// When the downstream body ended, if it has.
    pub(super) fn ended_at(&self) -> Option<Instant> {
        *self.ended.borrow()
    }

    /// Waits for the downstream body to end; when it did.
    pub(super) async fn ended(&self) -> Instant {
        let mut ended = self.ended.subscribe();
        let at = match ended.wait_for(Option::is_some).await {
            Ok(at) => *at,
            Err(_) => None,
        };
        at.unwrap_or_else(Instant::now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReplayState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bytes read from downstream so far.
    pub(crate) fn received(&self) -> u64 {
        self.lock().received
    }

    /// Whether an attempt can still send the body from its start.
    pub(super) fn replayable(&self) -> bool {
        self.lock().dropped == 0
    }

    /// A body for one attempt, from the start.
    pub(super) fn attempt(self: &Arc<Self>) -> ReplayBody {
        ReplayBody {
            replay: self.clone(),
            next: 0,
            done: false,
        }
    }
}

/// Reads the downstream body into the replay, waiting while the unread part is over
/// the limit (backpressure: a slow upstream slows the client, as in Envoy). Holds
/// the replay weakly: once no attempt can read it, reading stops.
async fn read<B>(mut body: B, replay: Weak<Replay>, room: Arc<Notify>)
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    loop {
        let notified = room.notified();
        let full = {
            let Some(replay) = replay.upgrade() else {
                return;
            };
            let st = replay.lock();
            let unread: usize = st
                .chunks
                .iter()
                .skip(st.read_upto.saturating_sub(st.dropped))
                .map(Bytes::len)
                .sum();
            unread > RETRY_BUFFER_LIMIT
        };
        if full {
            notified.await;
            continue;
        }
        let frame = body.frame().await;
        let Some(replay) = replay.upgrade() else {
            return;
        };
        let mut st = replay.lock();
        match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    st.bytes += data.len();
                    st.received += data.len() as u64;
                    st.chunks.push_back(data);
                    // Over the retry limit: chunks every attempt has read go.
                    while st.bytes > RETRY_BUFFER_LIMIT && st.dropped < st.read_upto {
                        if let Some(chunk) = st.chunks.pop_front() {
                            st.bytes -= chunk.len();
                            st.dropped += 1;
                        }
                    }
                }
                Err(frame) => {
                    st.end = Some(Ok(frame.into_trailers().ok()));
                }
            },
            Some(Err(e)) => st.end = Some(Err(e.to_string())),
            None => {
                if st.end.is_none() {
                    st.end = Some(Ok(None));
                }
            }
        }
        let ended = st.end.is_some();
        for w in st.readers.drain(..) {
            w.wake();
        }
        drop(st);
        if ended {
            replay.ended.send_replace(Some(Instant::now()));
            return;
        }
    }
}

/// One attempt's request body: the replay from its start.
#[derive(Debug)]
pub(super) struct ReplayBody {
    replay: Arc<Replay>,
    next: usize,
    done: bool,
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let mut st = this.replay.lock();
        if this.next < st.dropped {
            this.done = true;
            return Poll::Ready(Some(Err(
                "the request body is over the retry buffer and cannot be sent again".into(),
            )));
        }
        if let Some(chunk) = st.chunks.get(this.next - st.dropped).cloned() {
            this.next += 1;
            st.read_upto = st.read_upto.max(this.next);
            drop(st);
            this.replay.room.notify_one();
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match &st.end {
            Some(Ok(trailers)) => {
                this.done = true;
                Poll::Ready(trailers.clone().map(|t| Ok(Frame::trailers(t))))
            }
            Some(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(format!("downstream body: {e}").into())))
            }
            None => {
                if !st.readers.iter().any(|w| w.will_wake(cx.waker())) {
                    st.readers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests;
