//! mTLS between two mesh-proxies on 127.0.0.0/8, no root: the client side's cluster
//! originates Istio's mTLS (SDS `default`/`ROOTCA`, a SPIFFE SAN check, picked by
//! `transport_socket_matches` on `tlsMode: istio`), the server side's filter chain
//! terminates it requiring a client certificate and appends the caller to
//! `x-forwarded-client-cert`. Each failure case must fail closed.

#[path = "support/mtls.rs"]
mod support;

use std::time::Duration;

use support::{Proxy, TestCa, app, get, raw_request};

const CLIENT_ID: &str = "spiffe://cluster.local/ns/demo/sa/client";
const SERVER_ID: &str = "spiffe://cluster.local/ns/demo/sa/server";

#[tokio::test]
async fn mtls_carries_the_client_identity_to_the_app() {
    let ca = TestCa::new("root");
    let app = app("127.0.10.1").await;
    let server = Proxy::server("127.0.10.2", ca.workload(SERVER_ID), app).await;
    let client = Proxy::client(
        "127.0.10.3",
        ca.workload(CLIENT_ID),
        server.address,
        SERVER_ID,
    )
    .await;

    let (status, body) = get(client.address).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("URI={CLIENT_ID}")),
        "the app sees the caller: {body}"
    );
    assert!(body.contains(&format!("By={SERVER_ID}")), "{body}");
    assert!(body.contains("Hash="), "{body}");
    assert!(body.contains("x-forwarded-proto: http"), "{body}");
    assert_eq!(server.stat("listener.ssl.handshake"), 1);
    assert_eq!(client.stat("cluster.ssl.handshake"), 1);
}

#[tokio::test]
async fn strict_mtls_rejects_plaintext() {
    let ca = TestCa::new("root");
    let app = app("127.0.11.1").await;
    let server = Proxy::server("127.0.11.2", ca.workload(SERVER_ID), app).await;
    let answer = raw_request(server.address, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n").await;
    assert!(
        !answer.contains("200"),
        "plaintext must not reach the app: {answer:?}"
    );
    // The readiness probe's connection counts too.
    assert!(server.stat("listener.ssl.connection_error") >= 2);
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused() {
    let ca = TestCa::new("root");
    let other = TestCa::new("other");
    let app = app("127.0.12.1").await;
    let server = Proxy::server("127.0.12.2", ca.workload(SERVER_ID), app).await;
    // The client trusts the server's root but presents a certificate of another CA.
    let client_tls = other.workload_trusting(CLIENT_ID, &ca);
    let client = Proxy::client("127.0.12.3", client_tls, server.address, SERVER_ID).await;
    let (status, body) = get(client.address).await;
    assert_eq!(status, 503, "{body}");
    assert!(server.stat("listener.ssl.connection_error") >= 1);
}

#[tokio::test]
async fn a_server_with_the_wrong_spiffe_id_is_refused() {
    let ca = TestCa::new("root");
    let app = app("127.0.13.1").await;
    let impostor = "spiffe://cluster.local/ns/demo/sa/impostor";
    let server = Proxy::server("127.0.13.2", ca.workload(impostor), app).await;
    let client = Proxy::client(
        "127.0.13.3",
        ca.workload(CLIENT_ID),
        server.address,
        SERVER_ID,
    )
    .await;
    let (status, body) = get(client.address).await;
    assert_eq!(status, 503, "{body}");
    assert!(client.stat("cluster.ssl.connection_error") >= 1);
}

#[tokio::test]
async fn an_expired_client_certificate_is_refused() {
    let ca = TestCa::new("root");
    let app = app("127.0.14.1").await;
    let server = Proxy::server("127.0.14.2", ca.workload(SERVER_ID), app).await;
    let expired = ca.workload_valid(
        CLIENT_ID,
        Duration::from_secs(7200),
        Duration::from_secs(3600),
    );
    let client = Proxy::client("127.0.14.3", expired, server.address, SERVER_ID).await;
    let (status, body) = get(client.address).await;
    assert_eq!(status, 503, "{body}");
    assert!(server.stat("listener.ssl.connection_error") >= 1);
}

#[tokio::test]
async fn a_rotated_certificate_is_used_from_the_next_connection() {
    let ca = TestCa::new("root");
    let app = app("127.0.15.1").await;
    let server = Proxy::server("127.0.15.2", ca.workload(SERVER_ID), app).await;
    // The client starts without a certificate (not issued yet): it cannot connect.
    let client = Proxy::client_without_certificate("127.0.15.3", server.address, SERVER_ID).await;
    let (status, _) = get(client.address).await;
    assert_eq!(status, 503);
    client.rotate(ca.workload(CLIENT_ID));
    let (status, body) = get(client.address).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("URI={CLIENT_ID}")), "{body}");
}
