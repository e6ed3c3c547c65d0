//! The connection manager over an in-memory byte stream (no socket: the stages work
//! over any `Io`), with a route that answers directly: limits, the header timeout,
//! and the record the stats read.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::route::v3 as proto;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::*;
use crate::config::HttpFilter;
use crate::drain::Drain;
use crate::route::build_route_table;
use crate::stats::Stats;

/// Every request gets 200 `hello` from the route `hello-route`.
fn direct_response_table() -> RouteTable {
    let route = proto::Route {
        name: "hello-route".into(),
        r#match: Some(proto::RouteMatch {
            path_specifier: Some(proto::route_match::PathSpecifier::Prefix("/".into())),
            ..Default::default()
        }),
        action: Some(proto::route::Action::DirectResponse(
            proto::DirectResponseAction {
                status: 200,
                body: Some(DataSource {
                    specifier: Some(data_source::Specifier::InlineString("hello".into())),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let rc = proto::RouteConfiguration {
        name: "inline".into(),
        virtual_hosts: vec![proto::VirtualHost {
            name: "all".into(),
            domains: vec!["*".into()],
            routes: vec![route],
            ..Default::default()
        }],
        ..Default::default()
    };
    build_route_table(&rc).expect("valid")
}

fn chain(request_headers_timeout: Option<Duration>) -> HttpChain {
    HttpChain {
        stat_prefix: "inbound_0.0.0.0_8080".into(),
        routes: RouteSource::Inline(Arc::new(direct_response_table())),
        use_remote_address: false,
        normalize_path: true,
        http_filters: vec![HttpFilter::Router],
        max_request_headers_bytes: 60 * 1024,
        max_headers_count: 100,
        request_headers_timeout,
        forward_client_cert: Default::default(),
    }
}

/// A connection manager serving the server end of an in-memory stream; the client
/// end and the stats.
fn serve(chain: HttpChain) -> (DuplexStream, Arc<Stats>) {
    let (server, client) = duplex(1 << 20);
    let stats = Arc::new(Stats::default());
    let (_tx, snapshots) = tokio::sync::watch::channel(Arc::new(Snapshot::default()));
    let conn = HttpConnection {
        listener: Arc::from("virtualInbound"),
        inbound: true,
        chain: Arc::new(chain),
        downstream: Arc::new(DownstreamInfo::loopback()),
        shared: Shared {
            snapshots,
            stats: stats.clone(),
            drain: Drain::new(),
            tls: Default::default(),
            certificates: tokio::sync::watch::channel(None).1,
        },
        header_clock: HeaderClock::new(),
    };
    tokio::spawn(serve_http(server, Arc::new(conn)));
    (client, stats)
}

/// Sends `request` and reads until the server closes or `until` is in the answer.
async fn exchange(client: &mut DuplexStream, request: &[u8], until: &str) -> String {
    client.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = client.read(&mut buf).await.expect("read");
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if n == 0 || text.contains(until) {
            return text.into_owned();
        }
    }
}

fn request_with_header_of(bytes: usize) -> Vec<u8> {
    format!(
        "GET / HTTP/1.1\r\nhost: web\r\nx-big: {}\r\n\r\n",
        "a".repeat(bytes)
    )
    .into_bytes()
}

#[tokio::test]
async fn http_is_served_over_any_byte_stream_and_the_record_reaches_the_stats() {
    let (mut client, stats) = serve(chain(None));
    let answer = exchange(
        &mut client,
        b"GET /x HTTP/1.1\r\nhost: web\r\n\r\n",
        "hello",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The stream completed when its body was sent: counted once, as a 2xx.
    let http = stats.http_stats();
    let (name, s) = http.first().expect("the connection manager's stats");
    assert_eq!(&**name, "inbound_0.0.0.0_8080");
    assert_eq!(s.rq_total.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(s.rq_xx[1].load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn request_headers_over_envoys_60_kib_get_431() {
    let (mut client, _) = serve(chain(None));
    let answer = exchange(&mut client, &request_with_header_of(50 * 1024), "hello").await;
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "under the limit: {answer:.40}"
    );
    let (mut client, _) = serve(chain(None));
    let answer = exchange(&mut client, &request_with_header_of(100 * 1024), "\r\n\r\n").await;
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "over the limit: {answer:.40}"
    );
}

#[tokio::test]
async fn more_headers_than_max_headers_count_get_431() {
    let mut small = chain(None);
    small.max_headers_count = 10;
    let (mut client, _) = serve(small);
    let headers: String = (0..20).map(|i| format!("x-h{i}: v\r\n")).collect();
    let request = format!("GET / HTTP/1.1\r\nhost: web\r\n{headers}\r\n");
    let answer = exchange(&mut client, request.as_bytes(), "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.40}");
}

#[tokio::test]
async fn a_request_whose_headers_never_finish_gets_408_and_a_closed_connection() {
    let (mut client, stats) = serve(chain(Some(Duration::from_millis(100))));
    // A kept-alive request first: the timer starts at the next request's first byte,
    // not while the connection is idle.
    let answer = exchange(&mut client, b"GET / HTTP/1.1\r\nhost: web\r\n\r\n", "hello").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer = exchange(&mut client, b"GET / HTTP/1.1\r\nhost: w", "\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection is closed after the 408");
    let total: u64 = stats
        .http_stats()
        .iter()
        .map(|(_, s)| s.rq_total.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert_eq!(total, 1, "only the complete request was served");
}
