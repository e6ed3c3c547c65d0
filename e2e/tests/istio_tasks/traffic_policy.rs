//! Mirroring, CORS and load balancing (consistent hash, round robin).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrored_requests_reach_v2_with_a_shadow_host_while_v1_answers() {
    let mut mesh = mesh_or_skip!("mirrored_requests_reach_v2_with_a_shadow_host_while_v1_answers");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_from_an_allowed_origin_is_answered_and_others_get_no_cors_headers() {
    let mut mesh = mesh_or_skip!(
        "cors_preflight_from_an_allowed_origin_is_answered_and_others_get_no_cors_headers"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_by_cookie_and_by_source_ip_keeps_a_client_on_one_backend() {
    let mut mesh =
        mesh_or_skip!("consistent_hash_by_cookie_and_by_source_ip_keeps_a_client_on_one_backend");
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
    let mut mesh = mesh_or_skip!("round_robin_load_balancer_spreads_requests_evenly");
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
