//! Fault injection, request timeouts, retries, circuit breaking and outlier detection.

use super::*;

/// Istio's `virtual-service-ratings-test-{delay,abort}.yaml` with `fault` as given.
fn ratings_fault_for_jason(fault: &str) -> String {
    format!(
        "
        apiVersion: networking.istio.io/v1alpha3
        kind: VirtualService
        metadata:
          name: ratings
          namespace: e2e
        spec:
          hosts:
          - ratings
          http:
          - match:
            - headers:
                end-user:
                  exact: jason
            fault:
        {fault}
            route:
            - destination:
                host: ratings
                subset: v1
          - route:
            - destination:
                host: ratings
                subset: v1
        "
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jason_gets_a_delayed_then_an_aborted_ratings_and_others_are_unaffected() {
    let mut mesh =
        mesh_or_skip!("jason_gets_a_delayed_then_an_aborted_ratings_and_others_are_unaffected");
    bookinfo(&mut mesh).await;
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    // The task's 7s delay, shortened to 500ms.
    mesh.apply(
        "ratings-vs.yaml",
        &ratings_fault_for_jason(
            "
              delay:
                percentage:
                  value: 100.0
                fixedDelay: 500ms",
        ),
    );
    mesh.start_client(false).await;
    let anonymous = mesh.get("ratings", "/ratings/0");
    let jason = anonymous.clone().header("end-user", "jason");
    mesh.wait_routed_to(&anonymous, "ratings-v1").await;

    // 10 ms of slack: Envoy arms its timers from the event loop's cached clock.
    for _ in 0..3 {
        let reply = mesh.reply(&jason).await;
        assert_eq!(reply.status, 200, "a delay still reaches ratings");
        assert_eq!(reply.workload(), Some("ratings-v1"));
        assert!(
            reply.elapsed >= Duration::from_millis(490),
            "jason delayed only {:?}",
            reply.elapsed
        );
    }
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        fastest = fastest.min(mesh.reply(&anonymous).await.elapsed);
    }
    assert!(
        fastest < Duration::from_millis(400),
        "others are not delayed, yet the fastest took {fastest:?}"
    );

    mesh.apply(
        "ratings-vs.yaml",
        &ratings_fault_for_jason(
            "
              abort:
                percentage:
                  value: 100.0
                httpStatus: 500",
        ),
    );
    mesh.wait_status(&jason, 500).await;
    let before = mesh.echo("ratings-v1").requests();
    for reply in mesh.replies(&jason, 20).await {
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert_eq!(reply.body, "fault filter abort");
        assert_eq!(reply.workload(), None);
    }
    assert_eq!(
        mesh.echo("ratings-v1").requests(),
        before,
        "an aborted request never reaches ratings"
    );
    for reply in mesh.replies(&anonymous, 20).await {
        assert_eq!(reply.status, 200, "others get ratings: {}", reply.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_timeout_gives_504_and_per_try_timeouts_retry_within_it() {
    let mut mesh = mesh_or_skip!("route_timeout_gives_504_and_per_try_timeouts_retry_within_it");
    bookinfo(&mut mesh).await;
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    mesh.apply(
        "ratings-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings
          namespace: e2e
        spec:
          hosts:
          - ratings.e2e.svc.cluster.local
          gateways:
          - mesh
          http:
          - match:
            - uri:
                prefix: /timeout
            route:
            - destination:
                host: ratings.e2e.svc.cluster.local
                subset: v1
            timeout: 0.5s
          - match:
            - uri:
                prefix: /retries
            route:
            - destination:
                host: ratings
                subset: v1
            timeout: 2s
            retries:
              attempts: 3
              perTryTimeout: 100ms
              retryOn: 5xx
          - match:
            - uri:
                prefix: /bounded
            route:
            - destination:
                host: ratings
                subset: v1
            timeout: 300ms
            retries:
              attempts: 10
              perTryTimeout: 200ms
              retryOn: 5xx
          - match:
            - uri:
                prefix: /reference-example
            route:
            - destination:
                host: ratings
                subset: v1
            retries:
              attempts: 3
              perTryTimeout: 2s
          - route:
            - destination:
                host: ratings
                subset: v1
        ",
    );
    mesh.start_client(false).await;
    let echo = mesh.echo("ratings-v1");
    let slow = |path: &str| {
        mesh.get("ratings", path)
            .header(DELAY_REQUEST_HEADER, "2000")
    };

    let reply = mesh.wait_status(&slow("/timeout"), 504).await;
    assert!(
        reply.elapsed >= Duration::from_millis(490) && reply.elapsed < Duration::from_millis(1500),
        "timeout 0.5s in front of a 2s backend: 504 after {:?}",
        reply.elapsed
    );
    assert_eq!(reply.body, "upstream request timeout");

    // 4 tries of 100ms each fit in the route's 2s: every one reaches the backend.
    let before = echo.requests();
    let reply = mesh.reply(&slow("/retries")).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert_eq!(
        echo.requests() - before,
        4,
        "1 try + 3 retries, each cut by perTryTimeout"
    );
    assert!(
        reply.elapsed >= Duration::from_millis(390) && reply.elapsed < Duration::from_millis(1900),
        "4 tries of 100ms took {:?}",
        reply.elapsed
    );

    // perTryTimeout × attempts is bounded by the route timeout: 300ms allow 2 tries of
    // 200ms, not 11.
    let before = echo.requests();
    let reply = mesh.reply(&slow("/bounded")).await;
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert!(
        reply.elapsed >= Duration::from_millis(290) && reply.elapsed < Duration::from_millis(900),
        "the route timeout (300ms) ends the retries: {:?}",
        reply.elapsed
    );
    let tries = echo.requests() - before;
    assert!(
        (1..=2).contains(&tries),
        "300ms hold at most 2 tries of 200ms, not {tries}"
    );

    // The retries example of Istio's reference: no retryOn, so Istio's default
    // conditions (503 among them) with 3 attempts.
    echo.fail_next(3);
    let before = echo.requests();
    let reply = mesh.reply(&mesh.get("ratings", "/reference-example")).await;
    assert_eq!(reply.status, 200, "3 retries absorb 3 503s: {}", reply.body);
    assert_eq!(echo.requests() - before, 4, "1 try + 3 retries");

    let unhurried = mesh.get("ratings", "/").header(DELAY_REQUEST_HEADER, "600");
    assert_eq!(
        mesh.answered_by(&unhurried).await,
        "ratings-v1",
        "no timeout on a route without one"
    );
}

/// Istio's circuit-breaking task: `httpbin` with the task's DestinationRule.
const HTTPBIN_CIRCUIT_BREAKER: &str = "
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata:
      name: httpbin
      namespace: e2e
    spec:
      host: httpbin
      trafficPolicy:
        connectionPool:
          tcp:
            maxConnections: 1
          http:
            http1MaxPendingRequests: 1
            maxRequestsPerConnection: 1
        outlierDetection:
          consecutive5xxErrors: 1
          interval: 1s
          baseEjectionTime: 3m
          maxEjectionPercent: 100
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_overflows_concurrent_requests_with_503_uo() {
    let mut mesh = mesh_or_skip!("circuit_breaker_overflows_concurrent_requests_with_503_uo");
    mesh.add_service("httpbin", &[Backend::version("httpbin-1", "v1")])
        .await;
    mesh.apply("httpbin-dr.yaml", HTTPBIN_CIRCUIT_BREAKER);
    mesh.start_client(false).await;
    let call = mesh.get("httpbin", "/get");
    mesh.wait_routed_to(&call, "httpbin-1").await;
    mesh.echo("httpbin-1").set_delay(Duration::from_millis(200));

    // The task's fortio run: 20 requests over many connections at once.
    let fortio = HttpClient::new();
    let addr = mesh.outbound_addr("httpbin");
    let replies = fortio
        .send_many(addr, &call, 20, 20)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let overflowed: Vec<&Reply> = replies.iter().filter(|r| r.status == 503).collect();
    assert_eq!(
        ok + overflowed.len(),
        20,
        "only 200 or 503: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(ok >= 1, "the one connection serves requests");
    // 1 connection + 1 pending request: nearly all of 20 simultaneous requests overflow;
    // 5 leaves room for requests that a busy machine spreads over several 200ms turns.
    assert!(
        overflowed.len() >= 5,
        "most of 20 concurrent requests overflow: {} did",
        overflowed.len()
    );
    for reply in &overflowed {
        assert_eq!(
            reply.header("x-envoy-overloaded"),
            Some("true"),
            "a circuit-breaker 503 is Envoy's own (UO): {:?}",
            reply.headers
        );
        assert_eq!(reply.workload(), None);
    }
    let overflow = mesh
        .client()
        .stat("cluster.outbound|8080||httpbin.e2e.svc.cluster.local.upstream_rq_pending_overflow")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        overflow as usize >= overflowed.len(),
        "upstream_rq_pending_overflow counts the overflows: {overflow}"
    );

    // A generous pool lets all 20 through.
    mesh.apply(
        "httpbin-dr.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: httpbin
          namespace: e2e
        spec:
          host: httpbin
          trafficPolicy:
            connectionPool:
              tcp:
                maxConnections: 100
              http:
                http1MaxPendingRequests: 100
        ",
    );
    eventually(
        "20 concurrent requests to succeed",
        CONFIG_DEADLINE,
        || async {
            let replies = fortio.send_many(addr, &call, 20, 20).await?;
            let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
            if statuses.iter().all(|s| *s == 200) {
                Ok(())
            } else {
                Err(format!("{statuses:?}"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subset_connection_pool_overrides_the_port_level_circuit_breaker() {
    let mut mesh = mesh_or_skip!("subset_connection_pool_overrides_the_port_level_circuit_breaker");
    bookinfo(&mut mesh).await;
    mesh.apply(
        "reviews.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: e2e
        spec:
          host: reviews
          trafficPolicy:
            portLevelSettings:
            - port:
                number: 8080
              connectionPool:
                tcp:
                  maxConnections: 1
                http:
                  http1MaxPendingRequests: 1
          subsets:
          - name: v1
            labels:
              version: v1
            trafficPolicy:
              connectionPool:
                tcp:
                  maxConnections: 100
                http:
                  http1MaxPendingRequests: 100
          - name: v2
            labels:
              version: v2
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: e2e
        spec:
          hosts:
          - reviews
          http:
          - match:
            - headers:
                x-subset:
                  exact: v2
            route:
            - destination:
                host: reviews
                subset: v2
          - route:
            - destination:
                host: reviews
                subset: v1
        ",
    );
    mesh.start_client(false).await;
    let v1 = mesh.get("reviews", "/");
    let v2 = mesh.get("reviews", "/").header("x-subset", "v2");
    mesh.wait_routed_to(&v1, "reviews-v1").await;
    mesh.wait_routed_to(&v2, "reviews-v2").await;
    for v in ["v1", "v2"] {
        mesh.echo(&format!("reviews-{v}"))
            .set_delay(Duration::from_millis(200));
    }
    let fortio = HttpClient::new();
    let addr = mesh.outbound_addr("reviews");
    let statuses = |replies: Vec<Reply>| replies.iter().map(|r| r.status).collect::<Vec<_>>();

    let to_v2 = statuses(
        fortio
            .send_many(addr, &v2, 20, 20)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(
        to_v2.iter().filter(|s| **s == 503).count() >= 5,
        "subset v2 inherits the port-level limit of 1 connection: {to_v2:?}"
    );
    let to_v1 = statuses(
        fortio
            .send_many(addr, &v1, 20, 20)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    );
    assert!(
        to_v1.iter().all(|s| *s == 200),
        "subset v1's own connection pool replaces the port-level one: {to_v1:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlier_detection_ejects_the_backend_that_fails() {
    let mut mesh = mesh_or_skip!("outlier_detection_ejects_the_backend_that_fails");
    mesh.add_service(
        "httpbin",
        &[
            Backend::version("httpbin-ok", "v1"),
            Backend::version("httpbin-bad", "v1"),
        ],
    )
    .await;
    mesh.apply(
        "httpbin-dr.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: httpbin
          namespace: e2e
        spec:
          host: httpbin
          trafficPolicy:
            outlierDetection:
              consecutive5xxErrors: 1
              interval: 1s
              baseEjectionTime: 30s
              maxEjectionPercent: 100
        ",
    );
    // No retries, so that the client sees the failures until the ejection.
    mesh.apply(
        "httpbin-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: httpbin
          namespace: e2e
        spec:
          hosts: [httpbin]
          http:
          - route: [{destination: {host: httpbin}}]
            retries: {attempts: 0}
        ",
    );
    mesh.echo("httpbin-bad").fail_next(u32::MAX);
    mesh.start_client(false).await;
    let call = mesh.get("httpbin", "/status");

    mesh.wait_only(&call, &["httpbin-ok"]).await;
    let bad = mesh.echo("httpbin-bad");
    assert!(bad.requests() >= 1, "the failing backend was tried first");
    let before = bad.requests();
    let counts = mesh.count_workloads(&call, 100).await;
    assert_eq!(only(&counts), ["httpbin-ok"], "{counts:?}");
    assert_eq!(
        bad.requests(),
        before,
        "an ejected backend gets no traffic for baseEjectionTime"
    );
    let ejections = mesh
        .client()
        .stat("cluster.outbound|8080||httpbin.e2e.svc.cluster.local.outlier_detection.ejections_enforced_total")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ejections >= 1, "envoy counts the ejection");
}
