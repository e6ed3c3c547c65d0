//! Istio's traffic-management tasks, replayed against real Envoy 1.40 fed by
//! `mesh-control`: request routing, traffic shifting (HTTP and TCP), fault injection,
//! request timeouts, circuit breaking, outlier detection, mirroring, CORS, match kinds,
//! ServiceEntries, Sidecar egress scoping and consistent hashing.
//!
//! The configs are Istio's own YAML from istio.io (bookinfo names, original
//! `networking.istio.io` versions), with `namespace: e2e` added and delays shortened;
//! each test asserts what Istio's documentation says the user sees. Skipped (with a
//! message) when Envoy is not installed: `cargo xtask tools`. See docs/conformance.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use e2e::echo::DELAY_REQUEST_HEADER;
use e2e::http::Call;
use e2e::tcp_echo::tcp_exchange;
use e2e::{
    Backend, EchoServer, HttpClient, Mesh, Reply, TcpEchoServer, assert_binomial, eventually,
};
use hyper::Method;

/// Starts a mesh, or returns from the test when Envoy is not installed.
macro_rules! mesh {
    ($name:expr) => {
        match Mesh::start($name).await {
            Some(mesh) => mesh,
            None => return,
        }
    };
}

/// How long a config change may take to reach Envoy.
const CONFIG_DEADLINE: Duration = Duration::from_secs(20);

/// Istio's `samples/bookinfo/networking/destination-rule-all.yaml`.
const DESTINATION_RULE_ALL: &str = "
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: productpage
      namespace: e2e
    spec:
      host: productpage
      subsets:
      - name: v1
        labels:
          version: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: reviews
      namespace: e2e
    spec:
      host: reviews
      subsets:
      - name: v1
        labels:
          version: v1
      - name: v2
        labels:
          version: v2
      - name: v3
        labels:
          version: v3
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: ratings
      namespace: e2e
    spec:
      host: ratings
      subsets:
      - name: v1
        labels:
          version: v1
      - name: v2
        labels:
          version: v2
      - name: v2-mysql
        labels:
          version: v2-mysql
      - name: v2-mysql-vm
        labels:
          version: v2-mysql-vm
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: details
      namespace: e2e
    spec:
      host: details
      subsets:
      - name: v1
        labels:
          version: v1
      - name: v2
        labels:
          version: v2
";

/// Istio's `samples/bookinfo/networking/virtual-service-all-v1.yaml`.
const VIRTUAL_SERVICE_ALL_V1: &str = "
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: productpage
      namespace: e2e
    spec:
      hosts:
      - productpage
      http:
      - route:
        - destination:
            host: productpage
            subset: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: reviews
      namespace: e2e
    spec:
      hosts:
      - reviews
      http:
      - route:
        - destination:
            host: reviews
            subset: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: ratings
      namespace: e2e
    spec:
      hosts:
      - ratings
      http:
      - route:
        - destination:
            host: ratings
            subset: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: details
      namespace: e2e
    spec:
      hosts:
      - details
      http:
      - route:
        - destination:
            host: details
            subset: v1
";

/// Bookinfo's services: productpage, reviews (v1, v2, v3), ratings and details (v1).
async fn bookinfo(mesh: &mut Mesh) {
    for (service, versions) in [
        ("productpage", &["v1"][..]),
        ("reviews", &["v1", "v2", "v3"][..]),
        ("ratings", &["v1"][..]),
        ("details", &["v1"][..]),
    ] {
        let backends: Vec<Backend> = versions
            .iter()
            .map(|v| Backend::version(&format!("{service}-{v}"), v))
            .collect();
        mesh.add_service(service, &backends).await;
    }
}

/// The client's WorkloadEntry and a `Sidecar` with `REGISTRY_ONLY` and one egress
/// listener bound to the client's address (`captureMode: NONE`): `port` and `hosts`
/// as given, in flow style.
fn registry_only_client(mesh: &Mesh, port: &str, hosts: &str) -> String {
    let client_ip = mesh.ip(2);
    format!(
        "
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {{name: client-0, namespace: e2e}}
        spec: {{address: {client_ip}, labels: {{app: client}}, serviceAccount: client}}
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: client
          namespace: e2e
        spec:
          workloadSelector:
            labels:
              app: client
          egress:
          - port: {port}
            bind: {client_ip}
            captureMode: NONE
            hosts: {hosts}
          outboundTrafficPolicy:
            mode: REGISTRY_ONLY
        "
    )
}

fn only(counts: &BTreeMap<String, u64>) -> Vec<&str> {
    counts.keys().map(String::as_str).collect()
}

// --- Request routing (istio.io: Tasks › Traffic Management › Request Routing) ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jason_is_routed_to_reviews_v2_and_everyone_else_to_v1() {
    let mut mesh = mesh!("jason_is_routed_to_reviews_v2_and_everyone_else_to_v1");
    bookinfo(&mut mesh).await;
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    mesh.apply("virtual-service-all-v1.yaml", VIRTUAL_SERVICE_ALL_V1);
    mesh.start_client(false).await;

    // virtual-service-all-v1: every service's traffic goes to v1, whoever asks.
    let reviews = mesh.get("reviews", "/reviews/0");
    let jason = reviews.clone().header("end-user", "jason");
    mesh.wait_only(&reviews, &["reviews-v1"]).await;
    for service in ["productpage", "ratings", "details"] {
        let counts = mesh.count_workloads(&mesh.get(service, "/"), 10).await;
        assert_eq!(only(&counts), [format!("{service}-v1")], "{service}");
    }
    let counts = mesh.count_workloads(&jason, 30).await;
    assert_eq!(
        only(&counts),
        ["reviews-v1"],
        "all-v1 sends jason to v1 too"
    );

    // virtual-service-reviews-test-v2.yaml, as published.
    mesh.apply(
        "virtual-service-all-v1.yaml",
        &VIRTUAL_SERVICE_ALL_V1.replace(
            "
      http:
      - route:
        - destination:
            host: reviews
            subset: v1",
            "
      http:
      - match:
        - headers:
            end-user:
              exact: jason
        route:
        - destination:
            host: reviews
            subset: v2
      - route:
        - destination:
            host: reviews
            subset: v1",
        ),
    );
    mesh.wait_only(&jason, &["reviews-v2"]).await;
    let counts = mesh.count_workloads(&jason, 30).await;
    assert_eq!(only(&counts), ["reviews-v2"], "jason sees v2 (black stars)");
    let counts = mesh.count_workloads(&reviews, 30).await;
    assert_eq!(only(&counts), ["reviews-v1"], "anonymous users see v1");
    let other_user = reviews.clone().header("end-user", "alice");
    let counts = mesh.count_workloads(&other_user, 30).await;
    assert_eq!(only(&counts), ["reviews-v1"], "other users see v1");
    // Bookinfo's productpage calls `reviews:9080`: every name of the service routes alike.
    for host in ["reviews", "reviews:8080", "reviews.e2e", "reviews.e2e.svc"] {
        let call = Call::get(host, "/reviews/0").header("end-user", "jason");
        let counts = mesh.count_workloads(&call, 10).await;
        assert_eq!(only(&counts), ["reviews-v2"], "jason via Host {host}");
    }
}

/// Bookinfo running without rules; then `destination-rule-all.yaml` and
/// `virtual-service-all-v1.yaml` are applied together, as the task does: the new subset
/// clusters (CDS), their endpoints (EDS) and routes (RDS) all reach the running Envoy.
async fn rules_applied_to_a_running_proxy_route_to_v1(test: &str, delta: bool) {
    let mut mesh = mesh!(test);
    bookinfo(&mut mesh).await;
    mesh.start_client(delta).await;
    let call = mesh.get("reviews", "/");
    for v in ["v1", "v2", "v3"] {
        mesh.wait_routed_to(&call, &format!("reviews-{v}")).await;
    }
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    mesh.apply("virtual-service-all-v1.yaml", VIRTUAL_SERVICE_ALL_V1);
    mesh.wait_only(&call, &["reviews-v1"]).await;
    let counts = mesh.count_workloads(&call, 60).await;
    assert_eq!(only(&counts), ["reviews-v1"]);
    let clusters = mesh
        .client()
        .admin("/clusters")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for subset in ["v1", "v2", "v3"] {
        let cluster = format!("outbound|8080|{subset}|reviews.e2e.svc.cluster.local::127.");
        assert!(
            clusters.contains(&cluster),
            "subset cluster {cluster} with its endpoint:\n{clusters}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_applied_to_a_running_proxy_route_to_v1_over_sotw() {
    rules_applied_to_a_running_proxy_route_to_v1(
        "rules_applied_to_a_running_proxy_route_to_v1_over_sotw",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_applied_to_a_running_proxy_route_to_v1_over_delta_xds() {
    rules_applied_to_a_running_proxy_route_to_v1(
        "rules_applied_to_a_running_proxy_route_to_v1_over_delta_xds",
        true,
    )
    .await;
}

// --- Traffic shifting ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_shifts_50_50_between_reviews_v1_and_v3_then_all_to_v3_over_delta_xds() {
    let mut mesh =
        mesh!("traffic_shifts_50_50_between_reviews_v1_and_v3_then_all_to_v3_over_delta_xds");
    bookinfo(&mut mesh).await;
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    // virtual-service-reviews-50-v3.yaml
    let weighted = |v1: u32, v3: u32| {
        format!(
            "
            apiVersion: networking.istio.io/v1beta1
            kind: VirtualService
            metadata:
              name: reviews
              namespace: e2e
            spec:
              hosts:
                - reviews
              http:
              - route:
                - destination:
                    host: reviews
                    subset: v1
                  weight: {v1}
                - destination:
                    host: reviews
                    subset: v3
                  weight: {v3}
            "
        )
    };
    mesh.apply("reviews-vs.yaml", &weighted(50, 50));
    mesh.start_client(true).await;
    let call = mesh.get("reviews", "/reviews/0");
    mesh.wait_only(&call, &["reviews-v1", "reviews-v3"]).await;

    let counts = mesh.count_workloads(&call, 1000).await;
    let v1 = counts.get("reviews-v1").copied().unwrap_or(0);
    let v3 = counts.get("reviews-v3").copied().unwrap_or(0);
    assert_eq!(v1 + v3, 1000, "only v1 and v3 answer: {counts:?}");
    assert_binomial("requests to reviews-v1 at 50%", v1, 1000, 0.5, 4.5);

    // virtual-service-reviews-v3.yaml: 100% to v3.
    mesh.apply(
        "reviews-vs.yaml",
        "
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: e2e
        spec:
          hosts:
            - reviews
          http:
          - route:
            - destination:
                host: reviews
                subset: v3
        ",
    );
    mesh.wait_only(&call, &["reviews-v3"]).await;
    let counts = mesh.count_workloads(&call, 100).await;
    assert_eq!(only(&counts), ["reviews-v3"]);
}

// --- Fault injection ---

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
    let mut mesh = mesh!("jason_gets_a_delayed_then_an_aborted_ratings_and_others_are_unaffected");
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

// --- Request timeouts ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_timeout_gives_504_and_per_try_timeouts_retry_within_it() {
    let mut mesh = mesh!("route_timeout_gives_504_and_per_try_timeouts_retry_within_it");
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

// --- Circuit breaking ---

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
    let mut mesh = mesh!("circuit_breaker_overflows_concurrent_requests_with_503_uo");
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
    let mut mesh = mesh!("subset_connection_pool_overrides_the_port_level_circuit_breaker");
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
    let mut mesh = mesh!("outlier_detection_ejects_the_backend_that_fails");
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

// --- Mirroring ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_requests_reach_v2_with_a_shadow_host_while_v1_answers() {
    let mut mesh = mesh!("mirrored_requests_reach_v2_with_a_shadow_host_while_v1_answers");
    mesh.add_service(
        "httpbin",
        &[
            Backend::version("httpbin-v1", "v1"),
            Backend::version("httpbin-v2", "v2"),
        ],
    )
    .await;
    mesh.apply(
        "httpbin.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: httpbin
          namespace: e2e
        spec:
          host: httpbin
          subsets:
          - name: v1
            labels:
              version: v1
          - name: v2
            labels:
              version: v2
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: httpbin
          namespace: e2e
        spec:
          hosts:
          - httpbin
          http:
          - route:
            - destination:
                host: httpbin
                subset: v1
              weight: 100
            mirror:
              host: httpbin
              subset: v2
            mirrorPercentage:
              value: 100.0
        ",
    );
    mesh.start_client(false).await;
    let call = mesh.get("httpbin", "/headers");
    let v2 = mesh.echo("httpbin-v2");
    eventually("v2 to get mirrored copies", CONFIG_DEADLINE, || async {
        mesh.reply(&call).await;
        if v2.requests() > 0 {
            Ok(())
        } else {
            Err("no copy yet".to_string())
        }
    })
    .await;

    let before = v2.requests();
    let counts = mesh.count_workloads(&call, 20).await;
    assert_eq!(only(&counts), ["httpbin-v1"], "responses come from v1");
    eventually("20 copies at v2", Duration::from_secs(10), || async {
        match v2.requests() - before {
            20 => Ok(()),
            n => Err(format!("{n} copies")),
        }
    })
    .await;
    assert_eq!(
        v2.last_host().as_deref(),
        Some("httpbin.e2e.svc.cluster.local-shadow"),
        "Envoy marks copies with a -shadow Host"
    );
}

// --- CORS ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_from_an_allowed_origin_is_answered_and_others_get_no_cors_headers() {
    let mut mesh =
        mesh!("cors_preflight_from_an_allowed_origin_is_answered_and_others_get_no_cors_headers");
    mesh.add_service("ratings", &[Backend::version("ratings-v1", "v1")])
        .await;
    // The corsPolicy example of Istio's VirtualService reference.
    mesh.apply(
        "ratings-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: ratings-route
          namespace: e2e
        spec:
          hosts:
          - ratings
          http:
          - route:
            - destination:
                host: ratings
            corsPolicy:
              allowOrigins:
              - exact: https://example.com
              - regex: https://.*[.]example[.]org
              allowMethods:
              - POST
              - GET
              allowCredentials: false
              allowHeaders:
              - X-Foo-Bar
              maxAge: \"24h\"
        ",
    );
    mesh.start_client(false).await;
    let preflight = |origin: &str| {
        mesh.get("ratings", "/ratings/0")
            .method(Method::OPTIONS)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
    };
    let allowed = preflight("https://example.com");
    let reply = eventually("the CORS policy to apply", CONFIG_DEADLINE, || async {
        let reply = mesh.send(&allowed).await?;
        if reply.header("access-control-allow-origin").is_some() {
            Ok(reply)
        } else {
            Err(format!("{} {:?}", reply.status, reply.headers))
        }
    })
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://example.com")
    );
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("POST,GET")
    );
    assert_eq!(
        reply
            .header("access-control-allow-headers")
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("x-foo-bar")
    );
    assert_eq!(reply.header("access-control-max-age"), Some("86400"));
    assert_eq!(reply.workload(), None, "Envoy answers the preflight itself");

    let reply = mesh.reply(&preflight("https://app.example.org")).await;
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.org"),
        "an origin matching the regex is allowed"
    );

    let reply = mesh.reply(&preflight("https://evil.example")).await;
    for header in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-max-age",
    ] {
        assert_eq!(
            reply.header(header),
            None,
            "no {header} for a disallowed origin"
        );
    }

    let simple = mesh
        .get("ratings", "/ratings/0")
        .header("origin", "https://example.com");
    let reply = mesh.reply(&simple).await;
    assert_eq!(reply.workload(), Some("ratings-v1"));
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://example.com"),
        "an actual request from an allowed origin gets the header too"
    );
}

// --- Match kinds ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_corpus_reaches_the_backend_each_match_rule_names() {
    let mut mesh = mesh!("request_corpus_reaches_the_backend_each_match_rule_names");
    bookinfo(&mut mesh).await;
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    mesh.apply(
        "reviews-vs.yaml",
        r#"
        apiVersion: networking.istio.io/v1beta1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: e2e
        spec:
          hosts:
          - reviews
          http:
          - name: admin-without-token
            match:
            - uri:
                prefix: /admin
              withoutHeaders:
                x-token: {}
            route:
            - destination: {host: reviews, subset: v3}
          - name: numeric-id
            match:
            - queryParams:
                id:
                  regex: "[0-9]+"
            route:
            - destination: {host: reviews, subset: v2}
          - name: top-any-case
            match:
            - uri:
                exact: /reviews/top
              ignoreUriCase: true
            route:
            - destination: {host: reviews, subset: v3}
          - name: versioned-api
            match:
            - uri:
                regex: "/v[0-9]+/reviews"
            route:
            - destination: {host: reviews, subset: v2}
          - name: profile-not-jason
            match:
            - uri:
                prefix: /profile
              withoutHeaders:
                end-user:
                  exact: jason
            route:
            - destination: {host: reviews, subset: v2}
          - name: by-authority
            match:
            - authority:
                exact: reviews.e2e
            route:
            - destination: {host: reviews, subset: v3}
          - name: from-productpage
            match:
            - uri:
                prefix: /from
              sourceLabels:
                app: productpage
            route:
            - destination: {host: reviews, subset: v3}
          - name: from-client
            match:
            - uri:
                prefix: /from
              sourceLabels:
                app: client
            route:
            - destination: {host: reviews, subset: v2}
          - name: writes
            match:
            - method:
                regex: "PUT|DELETE"
            route:
            - destination: {host: reviews, subset: v3}
          - name: version-header-prefix
            match:
            - headers:
                x-version:
                  prefix: v2
            route:
            - destination: {host: reviews, subset: v2}
          - name: default
            route:
            - destination: {host: reviews, subset: v1}
        "#,
    );
    mesh.start_client(false).await;
    mesh.wait_only(&mesh.get("reviews", "/"), &["reviews-v1"])
        .await;

    let get = |path: &str| mesh.get("reviews", path);
    let cases: Vec<(&str, Call, &str)> = vec![
        (
            "withoutHeaders {}: x-token absent",
            get("/admin"),
            "reviews-v3",
        ),
        (
            "withoutHeaders {}: x-token present",
            get("/admin").header("x-token", "t0k3n"),
            "reviews-v1",
        ),
        ("query param regex", get("/?id=123"), "reviews-v2"),
        (
            "query param regex on letters",
            get("/?id=abc"),
            "reviews-v1",
        ),
        (
            "query param regex matches the whole value",
            get("/?id=12a"),
            "reviews-v1",
        ),
        (
            "ignoreUriCase, same case",
            get("/reviews/top"),
            "reviews-v3",
        ),
        (
            "ignoreUriCase, upper case",
            get("/REVIEWS/Top"),
            "reviews-v3",
        ),
        (
            "ignoreUriCase keeps exact exact",
            get("/reviews/top/1"),
            "reviews-v1",
        ),
        ("uri regex", get("/v2/reviews"), "reviews-v2"),
        (
            "uri regex matches the whole path",
            get("/v2/reviews/1"),
            "reviews-v1",
        ),
        (
            "withoutHeaders exact: another user",
            get("/profile").header("end-user", "alice"),
            "reviews-v2",
        ),
        (
            "withoutHeaders exact: jason is excluded",
            get("/profile").header("end-user", "jason"),
            "reviews-v1",
        ),
        (
            "authority exact",
            Call::get("reviews.e2e", "/"),
            "reviews-v3",
        ),
        (
            "authority exact, another name of the service",
            Call::get("reviews.e2e.svc.cluster.local", "/"),
            "reviews-v1",
        ),
        (
            "sourceLabels: a rule for another workload is not the client's",
            get("/from/here"),
            "reviews-v2",
        ),
        (
            "method regex",
            get("/").method(Method::DELETE),
            "reviews-v3",
        ),
        (
            "method regex matches the whole method",
            get("/").method(Method::PATCH),
            "reviews-v1",
        ),
        (
            "header prefix",
            get("/").header("x-version", "v2.1"),
            "reviews-v2",
        ),
        (
            "header prefix is case-sensitive",
            get("/").header("x-version", "V2"),
            "reviews-v1",
        ),
        ("no match: the default route", get("/other"), "reviews-v1"),
    ];
    let mut wrong = Vec::new();
    for (what, call, expected) in &cases {
        for _ in 0..3 {
            let reply = mesh.reply(call).await;
            let got = reply.workload().unwrap_or("<none>");
            if reply.status != 200 || got != *expected {
                wrong.push(format!(
                    "{what}: {} {} (Host {}) got {} from {got}, not {expected}",
                    call.method, call.path, call.host, reply.status
                ));
                break;
            }
        }
    }
    assert!(wrong.is_empty(), "misrouted:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uri_regex_over_envoys_default_re2_program_size_is_accepted_as_istio_accepts_it() {
    let mut mesh =
        mesh!("uri_regex_over_envoys_default_re2_program_size_is_accepted_as_istio_accepts_it");
    bookinfo(&mut mesh).await;
    mesh.apply("destination-rule-all.yaml", DESTINATION_RULE_ALL);
    // An ordinary REST path with a UUID: its RE2 program is over Envoy's default limit
    // of 100, far under the 32768 Istio's bootstrap sets
    // (`re2.max_program_size.error_level`), so Istio's Envoy takes it.
    mesh.apply(
        "reviews-vs.yaml",
        r#"
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
            - uri:
                regex: "^/api/v[0-9]+/(users|orders|products|reviews|ratings|details)/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
            route:
            - destination: {host: reviews, subset: v2}
          - route:
            - destination: {host: reviews, subset: v1}
        "#,
    );
    mesh.start_client(false).await;
    let by_id = mesh.get(
        "reviews",
        "/api/v1/reviews/123e4567-e89b-12d3-a456-426614174000",
    );
    eventually("the regex route to reach v2", CONFIG_DEADLINE, || async {
        let status = mesh.meshctl(&["proxy-status"])?;
        assert!(
            !status.contains("NACKED"),
            "Envoy rejected a regex Istio's Envoy accepts (Istio's bootstrap sets the \
             runtime key re2.max_program_size.error_level to 32768):\n{status}"
        );
        let reply = mesh.send(&by_id).await?;
        match reply.workload() {
            Some("reviews-v2") => Ok(()),
            other => Err(format!("{} from {other:?}", reply.status)),
        }
    })
    .await;
    assert_eq!(
        mesh.answered_by(&mesh.get("reviews", "/api/v1/reviews/not-a-uuid"))
            .await,
        "reviews-v1"
    );
}

// --- ServiceEntry ---

/// A port on 127.0.0.1 that was free a moment ago.
fn free_local_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_entries_with_static_and_dns_resolution_reach_their_endpoints_under_registry_only()
{
    let mut mesh = mesh!(
        "service_entries_with_static_and_dns_resolution_reach_their_endpoints_under_registry_only"
    );
    let static_ip = mesh.allocate_ip();
    let static_addr: SocketAddr = format!("{static_ip}:8080").parse().expect("address");
    let _static_echo = EchoServer::start("static-backend", static_addr)
        .await
        .unwrap_or_else(|e| panic!("echo on {static_addr}: {e}"));
    // `localhost` resolves here: the DNS endpoint is 127.0.0.1 on a port of its own.
    let dns_port = free_local_port();
    let dns_addr = SocketAddr::from(([127, 0, 0, 1], dns_port));
    let _dns_echo = EchoServer::start("dns-backend", dns_addr)
        .await
        .unwrap_or_else(|e| panic!("echo on {dns_addr}: {e}"));
    mesh.apply(
        "service-entries.yaml",
        &format!(
            "
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata:
              name: external-svc-static
              namespace: e2e
            spec:
              hosts:
              - static.example.com
              location: MESH_EXTERNAL
              ports:
              - number: 8080
                name: http
                protocol: HTTP
              resolution: STATIC
              endpoints:
              - address: {static_ip}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata:
              name: external-svc-dns
              namespace: e2e
            spec:
              hosts:
              - dns.example.com
              location: MESH_EXTERNAL
              ports:
              - number: 8080
                name: http
                protocol: HTTP
              resolution: DNS
              endpoints:
              - address: localhost
                ports:
                  http: {dns_port}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: dns-ext
              namespace: e2e
            spec:
              hosts:
                - dns.example.com
              http:
              - timeout: 300ms
                route:
                  - destination:
                      host: dns.example.com
                    weight: 100
            "
        ),
    );
    // Istio's egress task: with REGISTRY_ONLY only hosts with a ServiceEntry are reached.
    mesh.apply(
        "client.yaml",
        &registry_only_client(&mesh, "{number: 8080, protocol: HTTP, name: http}", "[./*]"),
    );
    mesh.start_client(false).await;
    mesh.wait_routed_to(&Call::get("static.example.com", "/"), "static-backend")
        .await;
    mesh.wait_routed_to(&Call::get("dns.example.com", "/"), "dns-backend")
        .await;
    let clusters = mesh
        .client()
        .admin("/clusters")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        clusters.contains(&format!(
            "outbound|8080||dns.example.com::127.0.0.1:{dns_port}"
        )),
        "the DNS cluster resolved localhost to 127.0.0.1:{dns_port}:\n{clusters}"
    );

    let slow = Call::get("dns.example.com", "/delay/5").header(DELAY_REQUEST_HEADER, "1500");
    let reply = mesh.reply(&slow).await;
    assert_eq!(
        reply.status, 504,
        "the VirtualService's timeout applies to an external host"
    );
    assert!(
        reply.elapsed >= Duration::from_millis(290) && reply.elapsed < Duration::from_millis(1400),
        "timed out after {:?}",
        reply.elapsed
    );
    let unknown = mesh.reply(&Call::get("unknown.example.com", "/")).await;
    assert_eq!(
        unknown.status, 502,
        "REGISTRY_ONLY refuses a host without a ServiceEntry: {}",
        unknown.body
    );
}

// --- Sidecar egress scoping ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_egress_hosts_give_the_client_reviews_but_not_ratings() {
    let mut mesh = mesh!("sidecar_egress_hosts_give_the_client_reviews_but_not_ratings");
    bookinfo(&mut mesh).await;
    // Istio's example: the client only reaches reviews in its own namespace. Under
    // REGISTRY_ONLY a host outside the registry is refused (502) rather than passed
    // through.
    mesh.apply(
        "client.yaml",
        &registry_only_client(
            &mesh,
            "{number: 8080, protocol: HTTP, name: http}",
            "[./reviews.e2e.svc.cluster.local]",
        ),
    );
    mesh.start_client(true).await;
    mesh.wait_routed_to(&mesh.get("reviews", "/"), "reviews-v1")
        .await;
    let clusters = mesh
        .client()
        .admin("/clusters")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        clusters.contains("outbound|8080||reviews.e2e.svc.cluster.local::"),
        "a cluster for reviews:\n{clusters}"
    );
    for other in ["ratings", "details", "productpage"] {
        assert!(
            !clusters.contains(&format!("{other}.e2e.svc.cluster.local")),
            "no cluster for {other}:\n{clusters}"
        );
    }
    let reply = mesh.reply(&mesh.get("ratings", "/")).await;
    assert_eq!(
        reply.status, 502,
        "ratings is not in the client's registry (REGISTRY_ONLY): {}",
        reply.body
    );
    assert_eq!(mesh.echo("ratings-v1").requests(), 0);
}

/// The client starts with every service of its namespace, then its Sidecar is narrowed
/// to reviews: the clusters of the others are removed from the running Envoy (over
/// Delta, `removed_resources`) and ratings is no longer routed.
async fn narrowed_sidecar_removes_clusters(test: &str, delta: bool) {
    let mut mesh = mesh!(test);
    bookinfo(&mut mesh).await;
    mesh.start_client(delta).await;
    mesh.wait_routed_to(&mesh.get("ratings", "/"), "ratings-v1")
        .await;
    mesh.apply(
        "client.yaml",
        &registry_only_client(
            &mesh,
            "{number: 8080, protocol: HTTP, name: http}",
            "[./reviews.e2e.svc.cluster.local]",
        ),
    );
    let clusters = eventually(
        "the clusters of ratings, details and productpage to go",
        CONFIG_DEADLINE,
        || async {
            let clusters = mesh.client().admin("/clusters").await?;
            let left: Vec<&str> = ["ratings", "details", "productpage"]
                .into_iter()
                .filter(|s| clusters.contains(&format!("|{s}.e2e.svc.cluster.local::")))
                .collect();
            if left.is_empty() {
                Ok(clusters)
            } else {
                Err(format!("still there: {left:?}"))
            }
        },
    )
    .await;
    assert!(
        clusters.contains("outbound|8080||reviews.e2e.svc.cluster.local::127."),
        "reviews stays, with its endpoints:\n{clusters}"
    );
    let before = mesh.echo("ratings-v1").requests();
    mesh.wait_status(&mesh.get("ratings", "/"), 502).await;
    assert_eq!(mesh.echo("ratings-v1").requests(), before);
    let reviews = mesh.answered_by(&mesh.get("reviews", "/")).await;
    assert!(reviews.starts_with("reviews-"), "answered by {reviews}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_sidecar_removes_other_services_clusters_over_sotw() {
    narrowed_sidecar_removes_clusters(
        "narrowed_sidecar_removes_other_services_clusters_over_sotw",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_sidecar_removes_other_services_clusters_over_delta_xds() {
    narrowed_sidecar_removes_clusters(
        "narrowed_sidecar_removes_other_services_clusters_over_delta_xds",
        true,
    )
    .await;
}

// --- Consistent hashing ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_by_cookie_and_by_source_ip_keeps_a_client_on_one_backend() {
    let mut mesh =
        mesh!("consistent_hash_by_cookie_and_by_source_ip_keeps_a_client_on_one_backend");
    bookinfo(&mut mesh).await;
    mesh.add_service(
        "details-pool",
        &["a", "b", "c"].map(|n| Backend::version(&format!("details-pool-{n}"), "v1")),
    )
    .await;
    mesh.apply(
        "hash-drs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: e2e
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              consistentHash:
                httpCookie:
                  name: user
                  ttl: 0s
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: details-pool
          namespace: e2e
        spec:
          host: details-pool
          trafficPolicy:
            loadBalancer:
              consistentHash:
                useSourceIp: true
        ",
    );
    mesh.start_client(false).await;
    let alice = mesh.get("reviews", "/").header("cookie", "user=alice");
    eventually("a cookie to stick", CONFIG_DEADLINE, || async {
        let counts = mesh.try_count_workloads(&alice, 12).await?;
        if counts.len() == 1 {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    })
    .await;
    let counts = mesh.count_workloads(&alice, 60).await;
    assert_eq!(counts.len(), 1, "one cookie, one backend: {counts:?}");
    let mut backends = std::collections::BTreeSet::new();
    for i in 0..30 {
        let call = mesh
            .get("reviews", "/")
            .header("cookie", &format!("user=user-{i}"));
        let first = mesh.answered_by(&call).await;
        assert_eq!(mesh.answered_by(&call).await, first, "user-{i} moved");
        backends.insert(first);
    }
    assert!(backends.len() >= 2, "30 cookies spread: {backends:?}");

    // ttl set: Envoy gives a client without the cookie one (a session cookie for 0s).
    let reply = mesh.reply(&mesh.get("reviews", "/")).await;
    let set_cookie = reply.header("set-cookie").unwrap_or_default();
    assert!(
        set_cookie.starts_with("user="),
        "a client without the cookie is given one: {:?}",
        reply.headers
    );

    let pool = mesh.get("details-pool", "/");
    let counts = mesh.count_workloads(&pool, 60).await;
    assert_eq!(
        counts.len(),
        1,
        "one source IP, one backend (useSourceIp): {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_load_balancer_spreads_requests_evenly() {
    let mut mesh = mesh!("round_robin_load_balancer_spreads_requests_evenly");
    bookinfo(&mut mesh).await;
    mesh.apply(
        "reviews-dr.yaml",
        "
        apiVersion: networking.istio.io/v1beta1
        kind: DestinationRule
        metadata:
          name: reviews
          namespace: e2e
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              simple: ROUND_ROBIN
        ",
    );
    mesh.start_client(false).await;
    let call = mesh.get("reviews", "/");
    for v in ["v1", "v2", "v3"] {
        mesh.wait_routed_to(&call, &format!("reviews-{v}")).await;
    }
    // One Envoy worker takes the hosts in turn: 300 requests are 100 each, give or take
    // the turn an EDS update may restart.
    let counts = mesh.count_workloads(&call, 300).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    for (workload, n) in &counts {
        assert!((97..=103).contains(n), "{workload}: {n} of 300: {counts:?}");
    }
}

// --- TCP traffic shifting ---

const TCP_PORT: u16 = 9000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_traffic_shifts_80_20_between_tcp_echo_v1_and_v2_over_delta_xds() {
    let mut mesh = mesh!("tcp_traffic_shifts_80_20_between_tcp_echo_v1_and_v2_over_delta_xds");
    let client_ip = mesh.ip(2);
    // The client reaches TCP port 9000 the way it reaches 8080: a bound egress
    // listener. REGISTRY_ONLY: a connection the listener does not route would
    // otherwise pass through to its own address, the listener itself.
    mesh.apply(
        "client.yaml",
        &registry_only_client(
            &mesh,
            &format!("{{number: {TCP_PORT}, protocol: TCP, name: tcp}}"),
            "[./*]",
        ),
    );
    let vip = mesh.ip(250);
    mesh.apply(
        "service-tcp-echo.yaml",
        &format!(
            "
            apiVersion: v1
            kind: Service
            metadata:
              name: tcp-echo
              namespace: e2e
              labels:
                app: tcp-echo
                service: tcp-echo
            spec:
              clusterIP: {vip}
              ports:
              - name: tcp
                port: {TCP_PORT}
              selector:
                app: tcp-echo
            "
        ),
    );
    let mut servers = Vec::new();
    for version in ["v1", "v2"] {
        let ip = mesh.allocate_ip();
        let addr: SocketAddr = format!("{ip}:{TCP_PORT}").parse().expect("address");
        let name = format!("tcp-echo-{version}");
        servers.push(
            TcpEchoServer::start(&name, addr)
                .await
                .unwrap_or_else(|e| panic!("tcp echo on {addr}: {e}")),
        );
        mesh.apply(
            &format!("workload-{name}.yaml"),
            &format!(
                "
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {{name: {name}, namespace: e2e}}
                spec:
                  address: {ip}
                  labels: {{app: tcp-echo, version: {version}}}
                  serviceAccount: tcp-echo
                  ports: {{tcp: {TCP_PORT}}}
                "
            ),
        );
    }
    // The task's tcp-echo-all-v1.yaml.
    let route = |v1: u32, v2: u32| {
        format!(
            "
            apiVersion: networking.istio.io/v1
            kind: DestinationRule
            metadata:
              name: tcp-echo-destination
              namespace: e2e
            spec:
              host: tcp-echo
              subsets:
              - name: v1
                labels:
                  version: v1
              - name: v2
                labels:
                  version: v2
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: tcp-echo
              namespace: e2e
            spec:
              hosts:
              - tcp-echo
              tcp:
              - match:
                - port: {TCP_PORT}
                route:
                - destination:
                    host: tcp-echo
                    port:
                      number: {TCP_PORT}
                    subset: v1
                  weight: {v1}
                - destination:
                    host: tcp-echo
                    port:
                      number: {TCP_PORT}
                    subset: v2
                  weight: {v2}
            "
        )
    };
    mesh.apply("tcp-echo-rules.yaml", &route(100, 0));
    mesh.start_client(true).await;
    let addr: SocketAddr = format!("{client_ip}:{TCP_PORT}").parse().expect("address");

    let only_v1 = || async {
        for i in 0..12 {
            let answer = tcp_exchange(addr, &format!("hello {i}")).await?;
            if answer != format!("tcp-echo-v1 hello {i}") {
                return Err(format!("answer {answer:?}"));
            }
        }
        Ok(())
    };
    eventually("tcp-echo to answer from v1 only", CONFIG_DEADLINE, only_v1).await;

    // tcp-echo-20-v2.yaml.
    mesh.apply("tcp-echo-rules.yaml", &route(80, 20));
    eventually("v2 to get connections", CONFIG_DEADLINE, || async {
        let answer = tcp_exchange(addr, "hello").await?;
        if answer.starts_with("tcp-echo-v2 ") {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..8 {
        tasks.spawn(async move {
            let mut v1 = 0u64;
            let mut v2 = 0u64;
            for i in 0..50 {
                let line = format!("hello {task}-{i}");
                let answer = tcp_exchange(addr, &line).await?;
                match answer.strip_suffix(&format!(" {line}")) {
                    Some("tcp-echo-v1") => v1 += 1,
                    Some("tcp-echo-v2") => v2 += 1,
                    _ => return Err(format!("unexpected answer {answer:?}")),
                }
            }
            Ok::<_, String>((v1, v2))
        });
    }
    let (mut v1, mut v2) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (a, b) = done
            .expect("exchange task")
            .unwrap_or_else(|e| panic!("{e}"));
        v1 += a;
        v2 += b;
    }
    assert_eq!(v1 + v2, 400);
    assert_binomial("connections to tcp-echo-v1 at 80%", v1, 400, 0.8, 4.5);
    assert!(servers.iter().all(|s| s.connections() > 0));
}
