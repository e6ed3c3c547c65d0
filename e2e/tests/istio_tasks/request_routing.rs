//! Request routing, traffic shifting and match kinds: Istio's request-routing and traffic-shifting tasks, and a corpus of requests for every match kind.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jason_is_routed_to_reviews_v2_and_everyone_else_to_v1() {
    let mut mesh = mesh_or_skip!("jason_is_routed_to_reviews_v2_and_everyone_else_to_v1");
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
    let mut mesh = mesh_or_skip!(test);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_shifts_50_50_between_reviews_v1_and_v3_then_all_to_v3_over_delta_xds() {
    let mut mesh = mesh_or_skip!(
        "traffic_shifts_50_50_between_reviews_v1_and_v3_then_all_to_v3_over_delta_xds"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_corpus_reaches_the_backend_each_match_rule_names() {
    let mut mesh = mesh_or_skip!("request_corpus_reaches_the_backend_each_match_rule_names");
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
    let mut mesh = mesh_or_skip!(
        "uri_regex_over_envoys_default_re2_program_size_is_accepted_as_istio_accepts_it"
    );
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
