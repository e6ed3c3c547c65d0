//! A response on its way downstream: counts the bytes sent and, once the last one is
//! out (or the stream ends otherwise), completes the request's record, which the
//! connection manager's stats and the access log then read, as Envoy's do at the end
//! of a stream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use hyper::Response;
use hyper::body::{Body, Bytes, Frame, SizeHint};

use super::access_log;
use super::http::HttpConnection;
use super::local_reply::{BoxError, ProxyBody};
use crate::stream_info::StreamInfo;

/// The body of every response the connection manager sends.
pub(super) struct Completion {
    body: ProxyBody,
    /// Taken when the stream completes.
    record: Option<(StreamInfo, Arc<HttpConnection>)>,
}

/// The response as sent downstream, completing `info` when it has been.
pub(super) fn complete(
    response: Response<ProxyBody>,
    info: StreamInfo,
    conn: Arc<HttpConnection>,
) -> Response<Completion> {
    response.map(|body| Completion {
        body,
        record: Some((info, conn)),
    })
}

impl Completion {
    fn finish(&mut self) {
        let Some((mut info, conn)) = self.record.take() else {
            return;
        };
        info.completed = Some(Instant::now());
        if let Some(body) = info.request_body.take() {
            info.bytes_received = body.received();
        }
        conn.header_clock.request_finished();
        conn.shared.stats.request(&conn.chain.stat_prefix, &info);
        access_log::log(&conn.listener, &info);
    }
}

impl Body for Completion {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let frame = ready!(Pin::new(&mut self.body).poll_frame(cx));
        match &frame {
            Some(Ok(f)) => {
                if let (Some(data), Some((info, _))) = (f.data_ref(), self.record.as_mut()) {
                    info.bytes_sent += data.len() as u64;
                }
                if self.body.is_end_stream() {
                    self.finish();
                }
            }
            Some(Err(_)) | None => self.finish(),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A body hyper never polls (empty, a HEAD response) or drops mid-way (the client
/// went away) still completes its record.
impl Drop for Completion {
    fn drop(&mut self) {
        self.finish();
    }
}
