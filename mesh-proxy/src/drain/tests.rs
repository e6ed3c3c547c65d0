use std::sync::atomic::AtomicBool;

use super::*;

#[tokio::test]
async fn signaled_resolves_for_waiters_before_and_after_the_signal() {
    let drain = Drain::new();
    let early = tokio::spawn(drain.signaled());
    assert!(!drain.is_signaled());
    drain.signal();
    drain.signal();
    early.await.expect("waiter ends");
    assert!(drain.is_signaled());
    tokio::time::timeout(Duration::from_secs(1), drain.signaled())
        .await
        .expect("resolves at once once signaled");
}

#[tokio::test]
async fn drain_waits_for_connections_to_finish() {
    let drain = Drain::new();
    let guard = drain.connection();
    let second = drain.connection();
    assert_eq!(drain.active_connections(), 2);
    drop(second);
    let waiter = tokio::spawn({
        let drain = drain.clone();
        async move { drain.drain(Duration::from_secs(5)).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "one connection is still open");
    drop(guard);
    let left = tokio::time::timeout(Duration::from_secs(1), waiter)
        .await
        .expect("drain ends when the last connection does")
        .expect("task");
    assert_eq!(left, 0);
}

#[tokio::test]
async fn drain_gives_up_after_the_deadline() {
    let drain = Drain::new();
    let _stuck = drain.connection();
    assert_eq!(drain.drain(Duration::from_millis(50)).await, 1);
    assert!(drain.is_signaled());
}

#[tokio::test]
async fn graceful_asks_the_connection_to_finish_once_signaled() {
    let drain = Drain::new();
    let asked = Arc::new(AtomicBool::new(false));
    // Stands in for a hyper connection: ends only after graceful_shutdown.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let connection = async move { rx.await.is_ok() };
    let task = tokio::spawn({
        let drain = drain.clone();
        let asked = asked.clone();
        async move {
            drain
                .graceful(connection, move |_| {
                    asked.store(true, Ordering::SeqCst);
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!task.is_finished());
    drain.signal();
    let ended = tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("ends after the shutdown request")
        .expect("task");
    assert!(ended && asked.load(Ordering::SeqCst));
}

#[tokio::test]
async fn graceful_leaves_a_connection_alone_without_a_drain() {
    let drain = Drain::new();
    let output = drain
        .graceful(async { 7 }, |_| panic!("not draining"))
        .await;
    assert_eq!(output, 7);
}

/// The wiring the HTTP connection manager uses: a real hyper connection, kept alive
/// by its client, is closed once the drain is signaled, and the guard released.
#[tokio::test]
async fn an_idle_keep_alive_http_connection_is_closed_by_the_drain() {
    use std::convert::Infallible;

    use http_body_util::Full;
    use hyper::Response;
    use hyper::body::Bytes;
    use hyper::service::service_fn;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let drain = Drain::new();
    let server = tokio::spawn({
        let drain = drain.clone();
        async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let _guard = drain.connection();
            let service = service_fn(|_| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
            });
            // `serve_connection` borrows its builder.
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            drain.graceful(connection, |c| c.graceful_shutdown()).await
        }
    });
    let mut client = TcpStream::connect(address).await.expect("connect");
    client
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("request");
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.ends_with(b"ok") {
        let n = client.read(&mut buf).await.expect("response");
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buf[..n]);
    }
    assert_eq!(drain.active_connections(), 1, "kept alive");

    drain.signal();
    let closed = tokio::time::timeout(Duration::from_secs(2), client.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0))), "the proxy closes: {closed:?}");
    let served = tokio::time::timeout(Duration::from_secs(2), server)
        .await
        .expect("the connection task ends")
        .expect("task");
    assert!(served.is_ok(), "{served:?}");
    tokio::time::timeout(Duration::from_secs(1), drain.idle())
        .await
        .expect("no connection left");
}
