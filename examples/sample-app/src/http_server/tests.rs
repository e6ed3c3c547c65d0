use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::Version;

use super::*;

fn workload() -> Workload {
    Workload {
        name: "reviews".to_string(),
        version: "v2".to_string(),
        namespace: "bookinfo".to_string(),
        pod: "reviews-v2-0".to_string(),
        ip: "10.77.1.3".to_string(),
    }
}

fn app(faults: Faults) -> HttpApp {
    HttpApp::new(
        workload(),
        faults,
        Upstreams::new(Vec::new(), Duration::from_secs(1)),
    )
}

fn get(uri: &str) -> Request<Empty<Bytes>> {
    Request::get(uri)
        .header("host", "reviews:9080")
        .header("end-user", "jason")
        .header("x-b3-traceid", "1")
        .header("x-b3-traceid", "2")
        .body(Empty::new())
        .expect("request")
}

async fn reply(response: Response<Full<Bytes>>) -> (StatusCode, EchoReply) {
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON reply"))
}

#[tokio::test]
async fn answer_names_the_workload_and_echoes_the_request() {
    let response = app(Faults::none()).answer(get("/reviews/0?x=1")).await;
    assert_eq!(
        response
            .headers()
            .get(WORKLOAD_HEADER)
            .map(|v| v.as_bytes()),
        Some(&b"reviews/v2"[..])
    );
    let (status, reply) = reply(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.workload(), "reviews/v2");
    assert_eq!(reply.pod, "reviews-v2-0");
    assert_eq!(reply.method, "GET");
    assert_eq!(reply.path, "/reviews/0?x=1");
    assert_eq!(reply.host, "reviews:9080");
    assert_eq!(reply.protocol, "HTTP/1.1");
    assert_eq!(
        reply.headers.get("end-user").map(String::as_str),
        Some("jason")
    );
    assert_eq!(
        reply.headers.get("x-b3-traceid").map(String::as_str),
        Some("1, 2")
    );
    assert!(reply.upstreams.is_empty());
}

#[tokio::test]
async fn status_query_fails_that_request_with_a_json_body() {
    let (status, reply) = reply(app(Faults::none()).answer(get("/?status=503")).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        (reply.status, reply.workload().as_str()),
        (503, "reviews/v2")
    );
}

#[tokio::test]
async fn bad_query_directive_is_a_400_that_says_what_to_write() {
    let response = app(Faults::none()).answer(get("/?delay=soon")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("100ms"));
}

#[tokio::test]
async fn delay_query_holds_the_answer() {
    let started = Instant::now();
    let response = app(Faults::none()).answer(get("/?delay=50ms")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn configured_fail_rate_fails_that_fraction_of_answers() {
    let app = app(Faults::new(0.5, 500, Duration::ZERO).expect("valid"));
    let mut failed = 0;
    for _ in 0..10 {
        if app.answer(get("/")).await.status() == StatusCode::INTERNAL_SERVER_ERROR {
            failed += 1;
        }
    }
    assert_eq!(failed, 5);
}

#[tokio::test]
async fn http2_requests_report_their_protocol() {
    let mut req = get("http://reviews:9080/");
    *req.version_mut() = Version::HTTP_2;
    req.headers_mut().remove("host");
    let (_, reply) = reply(app(Faults::none()).answer(req).await).await;
    assert_eq!(reply.protocol, "HTTP/2.0");
    assert_eq!(reply.host, "reviews:9080");
}

#[tokio::test]
async fn unreachable_upstream_is_reported_in_the_chain() {
    let upstream = "http://127.0.0.1:9".parse().expect("uri");
    let app = HttpApp::new(
        workload(),
        Faults::none(),
        Upstreams::new(vec![upstream], Duration::from_secs(2)),
    );
    let (status, reply) = reply(app.answer(get("/")).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply.chain(), "reviews/v2 -> http://127.0.0.1:9/ error");
    assert!(reply.upstreams[0].error.is_some());
}
