use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::*;

const TIMEOUT: Duration = Duration::from_millis(200);

fn connection() -> (HeaderTimeout<DuplexStream>, DuplexStream, Arc<HeaderClock>) {
    let (server, client) = duplex(4096);
    let clock = HeaderClock::new();
    (
        HeaderTimeout::new(server, Some(TIMEOUT), clock.clone()),
        client,
        clock,
    )
}

async fn read_some(io: &mut HeaderTimeout<DuplexStream>) -> io::Result<usize> {
    let mut buf = [0u8; 256];
    io.read(&mut buf).await
}

#[tokio::test(start_paused = true)]
async fn headers_that_never_finish_get_408_and_the_connection_fails() {
    let (mut server, mut client, _clock) = connection();
    client
        .write_all(b"GET / HTTP/1.1\r\nHo")
        .await
        .expect("write");
    assert_eq!(read_some(&mut server).await.expect("first bytes"), 18);
    let started = tokio::time::Instant::now();
    let err = read_some(&mut server).await.expect_err("timed out");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert_eq!(started.elapsed(), TIMEOUT, "measured from the first byte");
    let mut answer = vec![0u8; REQUEST_TIMEOUT.len()];
    client.read_exact(&mut answer).await.expect("the 408");
    assert!(answer.starts_with(b"HTTP/1.1 408"));
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_headers_arrived_is_not_timed_and_the_next_one_is() {
    let (mut server, mut client, clock) = connection();
    client
        .write_all(b"POST / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    read_some(&mut server).await.expect("headers");
    clock.request_started();
    // A slow body is not the header timeout's business.
    tokio::time::sleep(TIMEOUT * 3).await;
    client.write_all(b"body").await.expect("write");
    assert_eq!(read_some(&mut server).await.expect("body"), 4);
    clock.request_finished();
    client.write_all(b"GET /next").await.expect("write");
    read_some(&mut server)
        .await
        .expect("next request's first bytes");
    let err = read_some(&mut server)
        .await
        .expect_err("its headers never end");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_is_never_timed() {
    let (mut server, mut client, _clock) = connection();
    let read = tokio::spawn(async move { read_some(&mut server).await.map(|_| ()) });
    tokio::time::sleep(TIMEOUT * 10).await;
    assert!(!read.is_finished(), "no byte, no timer");
    drop(client.shutdown().await);
    drop(client);
    assert!(read.await.expect("task").is_ok());
}

#[tokio::test(start_paused = true)]
async fn http2_connections_are_left_alone() {
    let (mut server, mut client, _clock) = connection();
    client
        .write_all(b"PRI * HTTP/2.0\r\n")
        .await
        .expect("write");
    read_some(&mut server).await.expect("preface");
    let read = tokio::spawn(async move { read_some(&mut server).await.map(|_| ()) });
    tokio::time::sleep(TIMEOUT * 10).await;
    assert!(!read.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_request_served_between_two_reads_stops_its_timer() {
    let (mut server, mut client, clock) = connection();
    client
        .write_all(b"GET / HTTP/1.1\r\n\r\n")
        .await
        .expect("write");
    read_some(&mut server).await.expect("headers");
    // Served and answered without another read in between, as hyper does.
    clock.request_started();
    clock.request_finished();
    let read = tokio::spawn(async move { read_some(&mut server).await.map(|_| ()) });
    tokio::time::sleep(TIMEOUT * 10).await;
    assert!(
        !read.is_finished(),
        "the keep-alive connection waits, untimed"
    );
}
