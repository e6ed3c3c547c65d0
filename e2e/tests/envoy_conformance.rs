//! Conformance: real Envoy 1.40, bootstrapped by `meshctl bootstrap envoy`, routes
//! exactly as the VirtualServices and DestinationRules given to `mesh-control` say.
//!
//! Each test is one behaviour from Istio's traffic-management reference, run in its own
//! mesh (control plane, client Envoy, echo workloads on a private 127.A.B.0/24). Tests
//! wait for outcomes with deadlines, never for fixed times. Skipped (with a message)
//! when Envoy is not installed: `cargo xtask tools` installs it. See docs/conformance.md.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use e2e::echo::DELAY_REQUEST_HEADER;
use e2e::fixtures::{FLAKY_RETRIES, REVIEWS_SUBSETS, reviews};
use e2e::http::Call;
use e2e::mesh_or_skip;
use e2e::{Backend, Mesh, assert_binomial, eventually};
use hyper::Method;

/// Service `web` with one workload, `web-1`.
async fn web(mesh: &mut Mesh) {
    mesh.add_service("web", &[Backend::version("web-1", "v1")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_route_splits_80_20() {
    let mut mesh = mesh_or_skip!("weighted_route_splits_80_20");
    reviews(&mut mesh).await;
    mesh.apply("reviews-subsets.yaml", REVIEWS_SUBSETS);
    mesh.apply(
        "reviews-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews, namespace: e2e}
        spec:
          hosts: [reviews]
          http:
          - route:
            - {destination: {host: reviews, subset: v1}, weight: 80}
            - {destination: {host: reviews, subset: v2}, weight: 20}
        ",
    );
    mesh.start_client(false).await;
    let call = mesh.get("reviews", "/");
    mesh.wait_only(&call, &["reviews-v1", "reviews-v2"]).await;

    let counts = mesh.count_workloads(&call, 2000).await;
    let v1 = counts.get("reviews-v1").copied().unwrap_or(0);
    let v2 = counts.get("reviews-v2").copied().unwrap_or(0);
    assert_eq!(v1 + v2, 2000, "only v1 and v2 answer: {counts:?}");
    assert_binomial("requests to reviews-v1", v1, 2000, 0.8, 4.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_uri_method_and_query_matches_take_the_first_matching_route() {
    let mut mesh =
        mesh_or_skip!("header_uri_method_and_query_matches_take_the_first_matching_route");
    reviews(&mut mesh).await;
    mesh.apply("reviews-subsets.yaml", REVIEWS_SUBSETS);
    mesh.apply(
        "reviews-vs.yaml",
        r#"
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: reviews, namespace: e2e}
        spec:
          hosts: [reviews]
          http:
          - name: jason
            match: [{headers: {end-user: {exact: jason}}}]
            route: [{destination: {host: reviews, subset: v2}}]
          - name: api-post
            match: [{uri: {prefix: /api}, method: {exact: POST}}]
            route: [{destination: {host: reviews, subset: v3}}]
          - name: debug-or-item
            match: [{queryParams: {debug: {exact: "1"}}}, {uri: {regex: "/items/[0-9]+"}}]
            route: [{destination: {host: reviews, subset: v3}}]
          - name: exact
            match: [{uri: {exact: /v2-only}}]
            route: [{destination: {host: reviews, subset: v2}}]
          - name: default
            route: [{destination: {host: reviews, subset: v1}}]
        "#,
    );
    mesh.start_client(false).await;
    mesh.wait_only(&mesh.get("reviews", "/"), &["reviews-v1"])
        .await;

    let get = |path: &str| mesh.get("reviews", path);
    let post = |path: &str| mesh.get("reviews", path).method(Method::POST);
    let cases: Vec<(&str, Call, &str)> = vec![
        (
            "a header match listed first wins over a later uri+method match",
            post("/api").header("end-user", "jason"),
            "reviews-v2",
        ),
        (
            "header names match case-insensitively",
            get("/").header("End-User", "jason"),
            "reviews-v2",
        ),
        (
            "header values match case-sensitively",
            get("/").header("end-user", "Jason"),
            "reviews-v1",
        ),
        (
            "uri prefix and method both match",
            post("/api/ratings"),
            "reviews-v3",
        ),
        (
            "the method must match too",
            get("/api/ratings"),
            "reviews-v1",
        ),
        ("a query parameter match", get("/?debug=1"), "reviews-v3"),
        (
            "a query parameter with another value",
            get("/?debug=2"),
            "reviews-v1",
        ),
        (
            "the second match block of a route (regex)",
            get("/items/42"),
            "reviews-v3",
        ),
        (
            "a regex must match the whole path",
            get("/items/42/reviews"),
            "reviews-v1",
        ),
        ("an exact uri match", get("/v2-only"), "reviews-v2"),
        ("exact is not prefix", get("/v2-only/more"), "reviews-v1"),
        (
            "no match falls through to the default route",
            get("/other"),
            "reviews-v1",
        ),
    ];
    let mut wrong = Vec::new();
    for (what, call, expected) in &cases {
        for _ in 0..3 {
            let got = mesh.answered_by(call).await;
            if got != *expected {
                wrong.push(format!(
                    "{what}: {} {} went to {got}, not {expected}",
                    call.method, call.path
                ));
                break;
            }
        }
    }
    assert!(wrong.is_empty(), "misrouted:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrite_changes_path_and_authority_and_redirect_answers_without_upstream() {
    let mut mesh =
        mesh_or_skip!("rewrite_changes_path_and_authority_and_redirect_answers_without_upstream");
    web(&mut mesh).await;
    mesh.apply(
        "web-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - match: [{uri: {prefix: /old/}}]
            rewrite: {uri: /new/, authority: rewritten.example}
            route: [{destination: {host: web}}]
          - match: [{uri: {exact: /moved}}]
            redirect: {uri: /elsewhere, authority: other.example}
          - match: [{uri: {prefix: /permanent}}]
            redirect: {uri: /here, redirectCode: 308}
          - route: [{destination: {host: web}}]
        ",
    );
    mesh.start_client(false).await;
    let moved = mesh.wait_status(&mesh.get("web", "/moved"), 301).await;
    assert_eq!(
        moved.header("location"),
        Some("http://other.example/elsewhere")
    );
    let before = mesh.echo("web-1").requests();

    let permanent = mesh.reply(&mesh.get("web", "/permanent")).await;
    assert_eq!(permanent.status, 308);
    let location = permanent.header("location").unwrap_or_default();
    assert!(location.ends_with("/here"), "location {location:?}");
    assert_eq!(
        mesh.echo("web-1").requests(),
        before,
        "redirects never reach the upstream"
    );

    let rewritten = mesh.reply(&mesh.get("web", "/old/page?q=1")).await;
    assert_eq!(rewritten.status, 200, "{}", rewritten.body);
    assert_eq!(rewritten.upstream_path(), Some("/new/page?q=1"));
    assert_eq!(rewritten.upstream_host(), Some("rewritten.example"));

    let plain = mesh.reply(&mesh.get("web", "/old")).await;
    assert_eq!(
        plain.upstream_path(),
        Some("/old"),
        "/old does not match prefix /old/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_response_answers_with_status_and_body() {
    let mut mesh = mesh_or_skip!("direct_response_answers_with_status_and_body");
    web(&mut mesh).await;
    mesh.apply(
        "web-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - match: [{uri: {exact: /teapot}}]
            directResponse: {status: 418, body: {string: short and stout}}
          - route: [{destination: {host: web}}]
        ",
    );
    mesh.start_client(false).await;
    let teapot = mesh.wait_status(&mesh.get("web", "/teapot"), 418).await;
    assert_eq!(teapot.body, "short and stout");
    assert_eq!(teapot.workload(), None);
    assert_eq!(
        mesh.echo("web-1").requests(),
        0,
        "a direct response never reaches the upstream"
    );
    assert_eq!(
        mesh.answered_by(&mesh.get("web", "/teapots")).await,
        "web-1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_aborts_and_delays() {
    let mut mesh = mesh_or_skip!("fault_injection_aborts_and_delays");
    web(&mut mesh).await;
    mesh.apply(
        "web-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - match: [{uri: {prefix: /abort}}]
            fault: {abort: {httpStatus: 429, percentage: {value: 100}}}
            route: [{destination: {host: web}}]
          - match: [{uri: {prefix: /half}}]
            fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
            route: [{destination: {host: web}}]
          - match: [{uri: {prefix: /delay}}]
            fault: {delay: {fixedDelay: 400ms, percentage: {value: 100}}}
            route: [{destination: {host: web}}]
          - route: [{destination: {host: web}}]
        ",
    );
    mesh.start_client(false).await;
    let abort = mesh.get("web", "/abort");
    mesh.wait_status(&abort, 429).await;
    let before = mesh.echo("web-1").requests();
    for reply in mesh.replies(&abort, 5).await {
        assert_eq!(reply.status, 429);
    }
    assert_eq!(
        mesh.echo("web-1").requests(),
        before,
        "an aborted request never reaches the upstream"
    );

    // Envoy arms its timers from the event loop's cached clock, which can lag by a few
    // milliseconds: allow 10 ms of slack, and check that other requests are not delayed.
    for _ in 0..3 {
        let reply = mesh.reply(&mesh.get("web", "/delay")).await;
        assert_eq!(reply.status, 200);
        assert!(
            reply.elapsed >= Duration::from_millis(390),
            "delayed only {:?}",
            reply.elapsed
        );
    }
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        fastest = fastest.min(mesh.reply(&mesh.get("web", "/")).await.elapsed);
    }
    assert!(
        fastest < Duration::from_millis(300),
        "requests off /delay are not delayed, yet the fastest took {fastest:?}"
    );

    let replies = mesh.replies(&mesh.get("web", "/half"), 400).await;
    let aborted = replies.iter().filter(|r| r.status == 503).count() as u64;
    let ok = replies.iter().filter(|r| r.status == 200).count() as u64;
    assert_eq!(aborted + ok, 400, "only 503 (fault) or 200");
    assert_binomial("aborted at 50%", aborted, 400, 0.5, 4.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_turn_a_flaky_upstreams_503_into_200() {
    let mut mesh = mesh_or_skip!("retries_turn_a_flaky_upstreams_503_into_200");
    mesh.add_service("flaky", &[Backend::version("flaky-1", "v1")])
        .await;
    mesh.apply("flaky-vs.yaml", FLAKY_RETRIES);
    mesh.start_client(false).await;
    mesh.wait_only(&mesh.get("flaky", "/no-retry"), &["flaky-1"])
        .await;
    let echo = mesh.echo("flaky-1");

    echo.fail_next(3);
    let before = echo.requests();
    let reply = mesh.reply(&mesh.get("flaky", "/")).await;
    assert_eq!(
        reply.status, 200,
        "3 retries on 5xx absorb 3 failures: {}",
        reply.body
    );
    assert_eq!(echo.requests() - before, 4, "1 try + 3 retries");

    echo.fail_next(2);
    let reply = mesh.reply(&mesh.get("flaky", "/istio-default")).await;
    assert_eq!(
        reply.status, 200,
        "Istio's default policy retries a 503 twice when a route sets none"
    );

    echo.fail_next(1);
    let reply = mesh.reply(&mesh.get("flaky", "/no-retry")).await;
    assert_eq!(reply.status, 503, "attempts: 0 turns retries off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_timeout_gives_504() {
    let mut mesh = mesh_or_skip!("route_timeout_gives_504");
    web(&mut mesh).await;
    mesh.apply(
        "web-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - match: [{uri: {prefix: /slow}}]
            timeout: 300ms
            route: [{destination: {host: web}}]
          - route: [{destination: {host: web}}]
        ",
    );
    mesh.start_client(false).await;
    let slow = mesh
        .get("web", "/slow")
        .header(DELAY_REQUEST_HEADER, "1500");
    let reply = mesh.wait_status(&slow, 504).await;
    // 10 ms of slack: Envoy arms its timers from the event loop's cached clock.
    assert!(
        reply.elapsed >= Duration::from_millis(290) && reply.elapsed < Duration::from_millis(1400),
        "timed out after {:?}",
        reply.elapsed
    );
    let unhurried = mesh.get("web", "/").header(DELAY_REQUEST_HEADER, "600");
    assert_eq!(
        mesh.answered_by(&unhurried).await,
        "web-1",
        "no timeout on a route without one (Istio turns Envoy's 15 s default off)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_keeps_a_user_on_one_backend() {
    let mut mesh = mesh_or_skip!("consistent_hash_keeps_a_user_on_one_backend");
    reviews(&mut mesh).await;
    mesh.apply(
        "reviews-dr.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {name: reviews, namespace: e2e}
        spec:
          host: reviews
          trafficPolicy:
            loadBalancer:
              consistentHash: {httpHeaderName: x-user}
        ",
    );
    mesh.start_client(false).await;
    let alice = mesh.get("reviews", "/").header("x-user", "alice");
    eventually(
        "requests of one user to stick",
        Duration::from_secs(20),
        || async {
            let counts = mesh.try_count_workloads(&alice, 12).await?;
            if counts.len() == 1 {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        },
    )
    .await;

    let counts = mesh.count_workloads(&alice, 100).await;
    assert_eq!(
        counts.len(),
        1,
        "100 requests of alice went to one backend: {counts:?}"
    );

    let mut per_user: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..30 {
        let user = format!("user-{i}");
        let call = mesh.get("reviews", "/").header("x-user", &user);
        let first = mesh.answered_by(&call).await;
        assert_eq!(mesh.answered_by(&call).await, first, "{user} moved");
        per_user.insert(user, first);
    }
    let backends: BTreeSet<&String> = per_user.values().collect();
    assert!(
        backends.len() >= 2,
        "30 users spread over more than one backend: {per_user:?}"
    );
}

/// Envoy's LDS and CDS counters and versions: an endpoint-only change must not move them.
async fn lds_cds_counters(mesh: &Mesh) -> Vec<(String, String)> {
    let stats = mesh
        .client()
        .stats()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    [
        "listener_manager.lds.update_attempt",
        "listener_manager.lds.version",
        "listener_manager.lds.version_text",
        "cluster_manager.cds.update_attempt",
        "cluster_manager.cds.version",
        "cluster_manager.cds.version_text",
    ]
    .iter()
    .filter_map(|name| Some((name.to_string(), stats.get(*name)?.clone())))
    .collect()
}

/// Waits until the LDS/CDS counters hold still for a second (late pushes have landed).
async fn settled_counters(mesh: &Mesh) -> Vec<(String, String)> {
    eventually("LDS and CDS to settle", Duration::from_secs(20), || async {
        let first = lds_cds_counters(mesh).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = lds_cds_counters(mesh).await;
        if first == second {
            Ok(second)
        } else {
            Err(format!("{first:?} → {second:?}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_added_and_removed_at_run_time_is_an_eds_push_only() {
    let mut mesh = mesh_or_skip!("endpoint_added_and_removed_at_run_time_is_an_eds_push_only");
    web(&mut mesh).await;
    mesh.start_client(false).await;
    let call = mesh.get("web", "/");
    mesh.wait_routed_to(&call, "web-1").await;
    let before = settled_counters(&mesh).await;
    assert!(!before.is_empty(), "envoy reports LDS/CDS stats");

    mesh.add_backend("web", &Backend::version("web-2", "v1"))
        .await;
    mesh.wait_routed_to(&call, "web-2").await;
    mesh.remove_backend("web-2");
    mesh.wait_only(&call, &["web-1"]).await;

    let after = settled_counters(&mesh).await;
    assert_eq!(
        before, after,
        "an endpoint change must not push listeners or clusters"
    );
    let stats = mesh
        .client()
        .stats()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let eds_updates: u64 = stats
        .iter()
        .filter(|(k, _)| {
            k.starts_with("cluster.outbound|8080||web.") && k.ends_with(".update_success")
        })
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    assert!(
        eds_updates >= 3,
        "EDS updates of web's cluster (first, added, removed): {eds_updates}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_service_changed_at_run_time_reroutes_over_delta_xds() {
    let mut mesh = mesh_or_skip!("virtual_service_changed_at_run_time_reroutes_over_delta_xds");
    reviews(&mut mesh).await;
    mesh.apply("reviews-subsets.yaml", REVIEWS_SUBSETS);
    let all_to = |subset: &str| {
        format!(
            "
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata: {{name: reviews, namespace: e2e}}
            spec:
              hosts: [reviews]
              http:
              - route: [{{destination: {{host: reviews, subset: {subset}}}}}]
            "
        )
    };
    mesh.apply("reviews-vs.yaml", &all_to("v1"));
    mesh.start_client(true).await;
    let call = mesh.get("reviews", "/");
    mesh.wait_only(&call, &["reviews-v1"]).await;

    mesh.apply("reviews-vs.yaml", &all_to("v3"));
    mesh.wait_only(&call, &["reviews-v3"]).await;
    let counts = mesh.count_workloads(&call, 50).await;
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        ["reviews-v3"],
        "{counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_envoy_rejects_shows_as_nacked_in_proxy_status() {
    let mut mesh = mesh_or_skip!("config_envoy_rejects_shows_as_nacked_in_proxy_status");
    web(&mut mesh).await;
    mesh.start_client(false).await;
    let marker = mesh.get("web", "/marker");
    mesh.wait_routed_to(&marker, "web-1").await;

    // Valid for Rust's regex and RE2, but its RE2 program (383) is over Envoy's limit of
    // 100. (`(a|b|…|j){20}` is not: RE2 folds the alternation into one class.)
    mesh.apply(
        "web-vs.yaml",
        r#"
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - match: [{headers: {x-pattern: {regex: "^(apple|banana|cherry|damson|elderberry){1000}x$"}}}]
            route: [{destination: {host: web}}]
          - match: [{uri: {exact: /marker}}]
            directResponse: {status: 418}
          - route: [{destination: {host: web}}]
        "#,
    );
    let status = eventually(
        "meshctl proxy-status to show the NACK",
        Duration::from_secs(20),
        || async {
            let text = mesh.meshctl(&["proxy-status"])?;
            if text.contains("NACKED") && text.contains("program size") {
                Ok(text)
            } else {
                Err(text)
            }
        },
    )
    .await;
    assert!(
        status.contains("client-0.e2e") && status.contains(&mesh.client_node_id()),
        "the NACK names the proxy:\n{status}"
    );

    let json = mesh
        .meshctl(&["proxy-status", &mesh.client_node_id(), "-o", "json"])
        .unwrap_or_else(|e| panic!("{e}"));
    let json: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("proxy-status -o json: {e}"));
    assert_eq!(json[0]["types"]["RDS"]["state"], "NACKED", "{json:#}");

    let stats = mesh
        .client()
        .stats()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rejected: u64 = stats
        .iter()
        .filter(|(k, _)| k.ends_with(".rds.8080.update_rejected"))
        .filter_map(|(_, v)| v.parse::<u64>().ok())
        .sum();
    assert!(rejected >= 1, "envoy itself rejected route config 8080");
    assert_eq!(
        mesh.answered_by(&marker).await,
        "web-1",
        "envoy keeps serving the last accepted routes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_copies_every_request_to_the_shadow() {
    let mut mesh = mesh_or_skip!("mirror_copies_every_request_to_the_shadow");
    web(&mut mesh).await;
    mesh.add_service("shadow", &[Backend::version("shadow-1", "v1")])
        .await;
    mesh.apply(
        "web-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - route: [{destination: {host: web}}]
            mirror: {host: shadow}
            mirrorPercentage: {value: 100}
        ",
    );
    mesh.start_client(false).await;
    let call = mesh.get("web", "/mirrored");
    let shadow = mesh.echo("shadow-1");
    eventually(
        "the shadow to get copies",
        Duration::from_secs(20),
        || async {
            mesh.reply(&call).await;
            if shadow.requests() > 0 {
                Ok(())
            } else {
                Err("no copy yet".to_string())
            }
        },
    )
    .await;

    let before = shadow.requests();
    let counts = mesh.count_workloads(&call, 20).await;
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        ["web-1"],
        "only the primary answers"
    );
    // Copies are sent asynchronously: wait for all 20 to arrive.
    eventually(
        "20 copies at the shadow",
        Duration::from_secs(10),
        || async {
            match shadow.requests() - before {
                20 => Ok(()),
                n => Err(format!("{n} copies")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_and_response_headers_are_set_added_and_removed() {
    let mut mesh = mesh_or_skip!("request_and_response_headers_are_set_added_and_removed");
    web(&mut mesh).await;
    mesh.apply(
        "web-vs.yaml",
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {name: web, namespace: e2e}
        spec:
          hosts: [web]
          http:
          - route: [{destination: {host: web}}]
            headers:
              request:
                set: {x-tier: gold}
                add: {x-added: extra}
                remove: [x-secret]
              response:
                set: {x-served-by: mesh}
                remove: [x-echo-host]
        ",
    );
    mesh.start_client(false).await;
    let call = mesh
        .get("web", "/")
        .header("x-tier", "bronze")
        .header("x-secret", "hunter2");
    let reply = eventually(
        "the header rules to apply",
        Duration::from_secs(20),
        || async {
            let reply = mesh.send(&call).await?;
            if reply.header("x-served-by") == Some("mesh") {
                Ok(reply)
            } else {
                Err(format!("{} {:?}", reply.status, reply.headers))
            }
        },
    )
    .await;
    let upstream_saw = |line: &str| reply.body.lines().any(|l| l == line);
    assert!(upstream_saw("x-tier: gold"), "set replaces: {}", reply.body);
    assert!(
        !upstream_saw("x-tier: bronze"),
        "set replaces: {}",
        reply.body
    );
    assert!(upstream_saw("x-added: extra"), "add: {}", reply.body);
    assert!(!reply.body.contains("hunter2"), "remove: {}", reply.body);
    assert_eq!(reply.header("x-echo-host"), None, "response remove");
    assert_eq!(reply.workload(), Some("web-1"));
}
