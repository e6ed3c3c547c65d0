//! The inspectors on bytes (ClientHello with SNI and ALPN, HTTP/1 request lines, the
//! h2 preface, partial input) and on real sockets (peek, never consume; timeout).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A TLS 1.2-style ClientHello record with optional SNI and ALPN extensions.
fn client_hello_bytes(sni: Option<&str>, alpn: &[&str]) -> Vec<u8> {
    let mut ext = Vec::new();
    if let Some(name) = sni {
        let name = name.as_bytes();
        let mut list = vec![0u8];
        list.extend((name.len() as u16).to_be_bytes());
        list.extend(name);
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend(list);
        ext.extend(0u16.to_be_bytes());
        ext.extend((data.len() as u16).to_be_bytes());
        ext.extend(data);
    }
    if !alpn.is_empty() {
        let mut list = Vec::new();
        for p in alpn {
            list.push(p.len() as u8);
            list.extend(p.as_bytes());
        }
        let mut data = (list.len() as u16).to_be_bytes().to_vec();
        data.extend(list);
        ext.extend(16u16.to_be_bytes());
        ext.extend((data.len() as u16).to_be_bytes());
        ext.extend(data);
    }
    let mut body = vec![3, 3];
    body.extend([7u8; 32]);
    body.push(0); // session id
    body.extend(2u16.to_be_bytes());
    body.extend([0x13, 0x01]);
    body.extend([1, 0]); // compression: null
    body.extend((ext.len() as u16).to_be_bytes());
    body.extend(ext);
    let mut handshake = vec![1];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![22, 3, 1];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[test]
fn a_client_hello_gives_sni_and_alpn() {
    let bytes = client_hello_bytes(Some("api.example.com"), &["h2", "http/1.1"]);
    let Inspection::Found(hello) = client_hello(&bytes) else {
        panic!("a ClientHello")
    };
    assert_eq!(hello.server_name.as_deref(), Some("api.example.com"));
    assert_eq!(hello.alpn, ["h2", "http/1.1"]);
    let Inspection::Found(bare) = client_hello(&client_hello_bytes(None, &[])) else {
        panic!("still TLS without extensions")
    };
    assert_eq!(bare.server_name, None);
}

#[test]
fn every_prefix_of_a_client_hello_needs_more() {
    let bytes = client_hello_bytes(Some("db.internal"), &["h2"]);
    for n in 0..bytes.len() {
        assert_eq!(client_hello(&bytes[..n]), Inspection::NeedMore, "{n} bytes");
    }
}

#[test]
fn a_client_hello_split_over_two_records_is_reassembled() {
    let single = client_hello_bytes(Some("split.example"), &[]);
    let message = &single[5..];
    let (a, b) = message.split_at(20);
    let mut two = Vec::new();
    for part in [a, b] {
        two.extend([22, 3, 1]);
        two.extend((part.len() as u16).to_be_bytes());
        two.extend(part);
    }
    let Inspection::Found(hello) = client_hello(&two) else {
        panic!("reassembled")
    };
    assert_eq!(hello.server_name.as_deref(), Some("split.example"));
}

#[test]
fn plaintext_and_garbage_are_not_tls() {
    assert_eq!(client_hello(b"GET / HTTP/1.1\r\n"), Inspection::NotThis);
    // Decided from the first byte: a short plaintext message does not wait.
    assert_eq!(client_hello(b"p"), Inspection::NotThis);
    assert_eq!(client_hello(&[22, 2]), Inspection::NotThis);
    assert_eq!(client_hello(&[22, 3, 1, 0, 0]), Inspection::NotThis);
    // A handshake record that is not a ClientHello (ServerHello).
    assert_eq!(
        client_hello(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
        Inspection::NotThis
    );
}

#[test]
fn http1_request_lines_give_their_version() {
    assert_eq!(
        http_protocol(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
        Inspection::Found("http/1.1")
    );
    assert_eq!(
        http_protocol(b"POST / HTTP/1.0\r\n"),
        Inspection::Found("http/1.0")
    );
    assert_eq!(
        http_protocol(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        Inspection::Found("h2c")
    );
}

#[test]
fn every_prefix_of_a_request_line_or_preface_needs_more() {
    for whole in [
        &b"OPTIONS /a?b=c HTTP/1.1\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ] {
        for n in 0..whole.len() - 1 {
            assert_eq!(
                http_protocol(&whole[..n]),
                Inspection::NeedMore,
                "{:?}",
                String::from_utf8_lossy(&whole[..n])
            );
        }
    }
}

#[test]
fn non_http_is_decided_early() {
    for bytes in [
        &b"hello\n"[..],
        b"get / HTTP/1.1\r\n",
        b"GET / SSH-2.0\r\n",
        b"\x16\x03\x01",
        b"FETCH /",
        b"GET / HTTP/1.1x",
    ] {
        assert_eq!(
            http_protocol(bytes),
            Inspection::NotThis,
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = listener.accept().await.expect("accept");
    (client, server)
}

fn filters(timeout_ms: u64, continue_on_timeout: bool) -> ListenerFilters {
    ListenerFilters {
        original_dst: false,
        tls_inspector: true,
        http_inspector: true,
        timeout: Some(Duration::from_millis(timeout_ms)),
        continue_on_timeout,
    }
}

#[tokio::test]
async fn a_request_line_in_pieces_is_detected_and_left_unread() {
    let (mut client, mut server) = pair().await;
    let writer = tokio::spawn(async move {
        for piece in [&b"GE"[..], b"T /pa", b"th HTTP/1.1\r\n\r\n"] {
            client.write_all(piece).await.expect("write");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        client
    });
    let detected = inspect(&server, &filters(5000, false))
        .await
        .expect("detected");
    assert_eq!(detected.application_protocols, ["http/1.1"]);
    assert_eq!(detected.transport_protocol, None);
    let _client = writer.await.expect("writer");
    // Peeked, not consumed: the chosen filter still reads the whole request.
    let mut buf = vec![0u8; 64];
    let n = server.read(&mut buf).await.expect("read");
    assert_eq!(&buf[..n], b"GET /path HTTP/1.1\r\n\r\n");
}

#[tokio::test]
async fn a_silent_client_is_closed_or_continued_as_the_listener_says() {
    let (_client, server) = pair().await;
    let err = inspect(&server, &filters(100, false))
        .await
        .expect_err("timeout closes");
    assert!(matches!(err, InspectError::Timeout), "{err}");
    let detected = inspect(&server, &filters(100, true))
        .await
        .expect("continues");
    assert_eq!(detected, Detected::default());
}

#[tokio::test]
async fn a_client_that_closes_before_a_verdict_is_closed() {
    let (mut client, server) = pair().await;
    client.write_all(b"GET /").await.expect("write");
    client.shutdown().await.expect("shutdown");
    let err = inspect(&server, &filters(5000, false))
        .await
        .expect_err("closed");
    assert!(matches!(err, InspectError::Closed), "{err}");
}
