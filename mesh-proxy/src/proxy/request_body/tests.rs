use std::convert::Infallible;

use http_body_util::{BodyExt, StreamBody};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::*;

type Chunks = mpsc::Sender<Result<Frame<Bytes>, Infallible>>;

/// A downstream body fed by the test, chunk by chunk.
fn downstream() -> (Chunks, Arc<Replay>) {
    let (tx, rx) = mpsc::channel(16);
    (tx, Replay::start(StreamBody::new(ReceiverStream::new(rx))))
}

async fn collect(body: ReplayBody) -> Result<Bytes, BoxError> {
    Ok(body.collect().await?.to_bytes())
}

#[tokio::test]
async fn an_attempt_streams_chunks_as_they_arrive() {
    let (tx, replay) = downstream();
    let mut body = replay.attempt();
    tx.send(Ok(Frame::data(Bytes::from("a")))).await.unwrap();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "a", "the first chunk goes up before the body ends");
    tx.send(Ok(Frame::data(Bytes::from("b")))).await.unwrap();
    drop(tx);
    assert_eq!(collect(body).await.unwrap(), "b");
}

#[tokio::test]
async fn a_small_body_is_sent_again_by_a_retry_with_its_trailers() {
    let (tx, replay) = downstream();
    for chunk in ["hello ", "world"] {
        tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.unwrap();
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    tx.send(Ok(Frame::trailers(trailers))).await.unwrap();
    drop(tx);
    let first = replay.attempt().collect().await.unwrap();
    assert_eq!(
        first.trailers().map(|t| t["grpc-status"].clone()),
        Some("0".parse().unwrap())
    );
    assert_eq!(first.to_bytes(), "hello world");
    assert!(replay.replayable());
    assert_eq!(collect(replay.attempt()).await.unwrap(), "hello world");
}

#[tokio::test]
async fn a_body_over_the_retry_buffer_streams_but_cannot_be_replayed() {
    let (tx, replay) = downstream();
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let chunks = RETRY_BUFFER_LIMIT / chunk.len() * 2;
    let sender = tokio::spawn(async move {
        for _ in 0..chunks {
            tx.send(Ok(Frame::data(chunk.clone()))).await.unwrap();
        }
    });
    let all = collect(replay.attempt()).await.unwrap();
    sender.await.unwrap();
    assert_eq!(all.len(), chunks * 64 * 1024, "every byte went up");
    assert!(!replay.replayable());
    let err = collect(replay.attempt()).await.unwrap_err();
    assert!(err.to_string().contains("retry buffer"), "{err}");
}

#[tokio::test]
async fn reading_stops_once_nobody_can_read() {
    let (tx, replay) = downstream();
    drop(replay);
    // The reading task is gone: the channel's receiver is dropped soon after.
    tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while tx.send(Ok(Frame::data(Bytes::from("x")))).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the reader stops");
}

#[tokio::test]
async fn a_body_read_whole_replays_like_a_streamed_one() {
    let replay = Replay::complete(Bytes::from("small"));
    assert!(replay.replayable());
    assert_eq!(collect(replay.attempt()).await.unwrap(), "small");
    assert_eq!(collect(replay.attempt()).await.unwrap(), "small");
}

#[tokio::test]
async fn the_end_of_the_body_is_known_when_it_comes_and_not_before() {
    let (tx, replay) = downstream();
    tx.send(Ok(Frame::data(Bytes::from("a")))).await.unwrap();
    assert_eq!(replay.ended_at(), None, "still streaming");
    let waiting = {
        let replay = replay.clone();
        tokio::spawn(async move { replay.ended().await })
    };
    drop(tx);
    let ended = waiting.await.unwrap();
    assert_eq!(replay.ended_at(), Some(ended));
    assert!(Replay::complete(Bytes::from("whole")).ended_at().is_some());
}
