//! The three servers and the client modes together on 127.0.0.1: a call chain
//! frontend → backend → ratings over HTTP/1.1 and h2c, gRPC and the TCP banner.

use std::sync::Arc;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};
use mesh_sample_app::faults::Faults;
use mesh_sample_app::grpc::EchoRequest;
use mesh_sample_app::grpc::client::GrpcLoad;
use mesh_sample_app::http_server::{self, HttpApp};
use mesh_sample_app::load::HttpLoad;
use mesh_sample_app::upstream::Upstreams;
use mesh_sample_app::{EchoReply, Workload, grpc, tcp};
use tokio::net::TcpListener;

fn workload(name: &str, version: &str) -> Workload {
    Workload {
        name: name.to_string(),
        version: version.to_string(),
        namespace: "demo".to_string(),
        pod: format!("{name}-{version}-0"),
        ip: "127.0.0.1".to_string(),
    }
}

/// Starts an HTTP server for `workload` calling `upstreams`; returns its base URL.
async fn http_app(workload: Workload, faults: Faults, upstreams: &[String]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let upstreams = upstreams.iter().map(|u| u.parse().expect("uri")).collect();
    let app = HttpApp::new(
        workload,
        faults,
        Upstreams::new(upstreams, Duration::from_secs(5)),
    );
    tokio::spawn(http_server::serve(listener, Arc::new(app)));
    url
}

fn load(url: &str, count: u64) -> HttpLoad {
    HttpLoad {
        url: url.parse::<Uri>().expect("uri"),
        method: Method::GET,
        headers: vec![
            (
                HeaderName::from_static("end-user"),
                HeaderValue::from_static("jason"),
            ),
            (
                HeaderName::from_static("x-request-id"),
                HeaderValue::from_static("req-1"),
            ),
        ],
        count,
        concurrency: 4,
        http2: false,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_reports_every_hop_and_propagates_user_and_request_id() {
    let ratings = http_app(workload("ratings", "v1"), Faults::none(), &[]).await;
    let backend = http_app(workload("backend", "v2"), Faults::none(), &[ratings]).await;
    let frontend = http_app(workload("frontend", "v1"), Faults::none(), &[backend]).await;

    let summary = load(&frontend, 20).run().await;
    assert_eq!(summary.status_count("200"), 20, "{summary}");
    assert_eq!(summary.workload_count("frontend/v1"), 20);
    let chain = "frontend/v1 -> backend/v2 -> ratings/v1";
    assert_eq!(summary.chains.get(chain), Some(&20), "{summary}");

    // The last hop saw the headers the client sent to the first.
    let reply = hyper_get(&frontend).await;
    let ratings = reply.upstreams[0]
        .reply
        .as_ref()
        .expect("backend")
        .upstreams[0]
        .reply
        .as_ref()
        .expect("ratings");
    assert_eq!(
        ratings.headers.get("end-user").map(String::as_str),
        Some("jason")
    );
    assert_eq!(
        ratings.headers.get("x-request-id").map(String::as_str),
        Some("req-1")
    );
}

async fn hyper_get(url: &str) -> EchoReply {
    let load = load(url, 1);
    let (status, body) = mesh_sample_app::load::fetch(&load.url, &load.headers, load.timeout)
        .await
        .expect("answer");
    assert_eq!(status, 200);
    serde_json::from_slice(&body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_upstream_shows_in_the_chain_and_h2c_works() {
    let faults = Faults::new(0.5, 503, Duration::ZERO).expect("valid");
    let backend = http_app(workload("backend", "v3"), faults, &[]).await;
    let frontend = http_app(workload("frontend", "v1"), Faults::none(), &[backend]).await;
    let mut load = load(&frontend, 10);
    load.http2 = true;
    load.concurrency = 1;
    let summary = load.run().await;
    assert_eq!(summary.status_count("200"), 10, "{summary}");
    assert_eq!(
        summary.chains.get("frontend/v1 -> backend/v3"),
        Some(&5),
        "{summary}"
    );
    assert_eq!(
        summary.chains.get("frontend/v1 -> backend/v3 503"),
        Some(&5),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_echo_answers_with_name_and_version() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = listener.local_addr().expect("addr").to_string();
    tokio::spawn(grpc::serve(listener, workload("ratings", "v2")));
    let mut load = GrpcLoad {
        target,
        request: EchoRequest {
            message: "hi".to_string(),
            fail_code: 0,
        },
        headers: vec![(
            HeaderName::from_static("end-user"),
            HeaderValue::from_static("jason"),
        )],
        count: 10,
        concurrency: 3,
        timeout: Duration::from_secs(5),
    };
    let call = load.call_once().await.expect("a call");
    let reply = call.reply.expect("a reply");
    assert_eq!(
        (call.code, reply.name.as_str(), reply.version.as_str()),
        (0, "ratings", "v2")
    );
    assert_eq!(
        reply.metadata.get("end-user").map(String::as_str),
        Some("jason")
    );
    let summary = load.run().await.expect("a run");
    assert_eq!(summary.status_count("grpc 0"), 10, "{summary}");
    assert_eq!(summary.workload_count("ratings/v2"), 10);
    load.request.fail_code = 14;
    let summary = load.run().await.expect("a run");
    assert_eq!(summary.status_count("grpc 14"), 10, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_server_speaks_first_then_echoes_lines() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(tcp::serve(listener, workload("db", "v1")));
    let lines = vec!["ping".to_string(), "second line".to_string()];
    let session = tcp::talk(&addr, &lines, Duration::from_secs(5))
        .await
        .expect("session");
    assert_eq!(session.banner, "HELLO db v1");
    assert_eq!(session.echoes, lines);
}
