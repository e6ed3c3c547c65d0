//! Route configurations: virtual host domains, VirtualService rules in order, and
//! every HTTP policy.

use super::*;

#[test]
fn virtual_host_carries_every_name_a_client_may_use() {
    let model = bookinfo();
    let r = translate(&model, &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"));
    let vh = virtual_host(&r, "9080", &format!("{REVIEWS}:9080"));
    for domain in [
        "reviews",
        "reviews:9080",
        "reviews.bookinfo",
        "reviews.bookinfo:9080",
        "reviews.bookinfo.svc",
        "reviews.bookinfo.svc:9080",
        REVIEWS,
        "reviews.bookinfo.svc.cluster.local:9080",
        "10.96.0.12:9080",
    ] {
        assert!(
            vh.domains.iter().any(|d| d == domain),
            "{domain} missing: {:?}",
            vh.domains
        );
    }
    // The short name is the client's namespace's: a proxy elsewhere does not get it.
    let elsewhere = model_of(&[
        (
            "s.yaml",
            include_str!("../../../../../examples/bookinfo/services.yaml"),
        ),
        (
            "w.yaml",
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: c, namespace: other}\nspec: {address: 10.9.9.9}\n",
        ),
    ]);
    let r = translate(&elsewhere, &proxy("10.9.9.9", "c", "other"));
    let vh = virtual_host(&r, "9080", &format!("{REVIEWS}:9080"));
    assert!(
        !vh.domains
            .iter()
            .any(|d| d == "reviews" || d == "reviews:9080")
    );
    assert!(vh.domains.iter().any(|d| d == "reviews.bookinfo"));
    let fallback = virtual_host(&r, "9080", "allow_any");
    assert_eq!(fallback.domains, ["*"]);
    assert_eq!(cluster_of(&fallback.routes[0]), "PassthroughCluster");
}

#[test]
fn routes_follow_virtual_service_order_with_weights_retries_and_timeout() {
    let r = translate(
        &bookinfo(),
        &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"),
    );
    let vh = virtual_host(&r, "9080", &format!("{REVIEWS}:9080"));
    assert_eq!(vh.routes.len(), 2);
    let jason = &vh.routes[0];
    let header = &jason.r#match.as_ref().expect("match").headers[0];
    assert_eq!(header.name, "end-user");
    assert_eq!(cluster_of(jason), format!("outbound|9080|v2|{REVIEWS}"));
    let split = &vh.routes[1];
    assert_eq!(
        weights_of(split),
        [
            (format!("outbound|9080|v1|{REVIEWS}").as_str(), 80),
            (format!("outbound|9080|v3|{REVIEWS}").as_str(), 20)
        ]
    );
    let a = action(split);
    assert_eq!(a.timeout, Some(seconds(10)));
    let retry = a.retry_policy.as_ref().expect("retries");
    assert_eq!(retry.num_retries, Some(UInt32Value { value: 3 }));
    assert_eq!(retry.per_try_timeout, Some(seconds(2)));
}

#[test]
fn route_without_retries_gets_istio_default_policy_and_no_timeout() {
    let r = translate(
        &bookinfo(),
        &proxy("10.10.0.10", "productpage-v1-0", "bookinfo"),
    );
    let vh = virtual_host(&r, "9080", "details.bookinfo.svc.cluster.local:9080");
    let a = action(&vh.routes[0]);
    assert_eq!(a.timeout, Some(seconds(0)));
    let retry = a.retry_policy.as_ref().expect("default retries");
    assert_eq!(retry.num_retries, Some(UInt32Value { value: 2 }));
    assert_eq!(
        retry.retry_on,
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    );
    assert_eq!(retry.retriable_status_codes, [503]);
    assert_eq!(
        retry.retry_host_predicate[0].name,
        "envoy.retry_host_predicates.previous_hosts"
    );
    assert_eq!(retry.host_selection_retry_max_attempts, 5);
}

#[test]
fn consistent_hash_puts_a_hash_policy_on_routes() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    // `weighted` goes first to subset v1, which balances ROUND_ROBIN: no hash.
    let weighted = vh
        .routes
        .iter()
        .find(|r| r.name == "weighted")
        .expect("weighted");
    assert!(action(weighted).hash_policy.is_empty());
    let faults = vh
        .routes
        .iter()
        .find(|r| r.name == "faults")
        .expect("faults");
    assert_eq!(
        format!("{:?}", action(faults).hash_policy),
        format!(
            "{:?}",
            vec![route_action::HashPolicy {
                policy_specifier: Some(route_action::hash_policy::PolicySpecifier::Header(
                    route_action::hash_policy::Header {
                        header_name: "x-user".into(),
                        ..Default::default()
                    }
                )),
                terminal: false,
            }]
        )
    );
    let api = virtual_host(&r, "8080", "api.shop.svc.cluster.local:8080");
    assert!(format!("{:?}", action(&api.routes[0]).hash_policy).contains("session"));
}

#[test]
fn every_match_of_a_rule_is_a_route_and_foreign_matches_are_dropped() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    let names: Vec<&str> = vh.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "by-header.jason",
            // Three of five matches: sourceLabels (app: nobody) and port 81 are not ours.
            "uri-kinds",
            "uri-kinds",
            "uri-kinds",
            "regex-rewrite",
            "redirect",
            "redirect-port",
            "direct",
            "direct-large",
            "direct-bytes",
            "faults",
            "grpc-fault",
            "cors",
            "weighted"
        ]
    );
    let uri = |i: usize| format!("{:?}", vh.routes[i].r#match.as_ref().expect("match"));
    assert!(
        uri(1).contains("Path(\"/exact\")") && uri(1).contains(":method"),
        "{}",
        uri(1)
    );
    assert!(
        uri(2).contains("Prefix(\"/Prefix\")")
            && uri(2).contains("case_sensitive: Some(BoolValue { value: false })")
    );
    assert!(uri(3).contains("SafeRegex") && uri(3).contains(":authority"));
    let without = &vh.routes[0].r#match.as_ref().expect("match").headers;
    assert!(without.iter().any(|h| h.name == "x-skip" && h.invert_match));
    // A proxy with the labels gets the sourceLabels match.
    let r = features_for(&[("app", "nobody")]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    assert_eq!(
        vh.routes.iter().filter(|r| r.name == "uri-kinds").count(),
        4
    );
}

#[test]
fn port_match_puts_a_rule_on_that_port_only() {
    let r = features_for(&[]);
    let grpc = virtual_host(&r, "9090", "api.shop.svc.cluster.local:9090");
    assert_eq!(grpc.routes.len(), 1);
    assert_eq!(
        cluster_of(&grpc.routes[0]),
        "outbound|9090||api.shop.svc.cluster.local"
    );
    assert!(
        action(&grpc.routes[0]).retry_policy.is_none(),
        "attempts: 0 disables retries"
    );
    let http = virtual_host(&r, "8080", "api.shop.svc.cluster.local:8080");
    assert_eq!(http.routes.len(), 1);
    assert_eq!(action(&http.routes[0]).timeout, Some(duration_ms(1500)));
}

#[test]
fn http_policies_map_to_envoy() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "80", &format!("{WEB}:80"));
    let by_name = |n: &str| vh.routes.iter().find(|r| r.name == n).expect(n);
    let weighted = by_name("weighted");
    let a = action(weighted);
    assert_eq!(
        weights_of(weighted),
        [
            (format!("outbound|80|v1|{WEB}").as_str(), 80),
            (format!("outbound|80|v2|{WEB}").as_str(), 20)
        ],
        "weight 0 destinations are dropped"
    );
    let retry = a.retry_policy.as_ref().expect("retries");
    assert_eq!(retry.retry_on, "5xx,gateway-error,retriable-status-codes");
    assert_eq!(retry.retriable_status_codes, [503, 504]);
    assert!(retry.retry_host_predicate.is_empty());
    assert_eq!(
        retry.retry_back_off.as_ref().and_then(|b| b.base_interval),
        Some(duration_ms(50))
    );
    let mirrors: Vec<(&str, u32)> = a
        .request_mirror_policies
        .iter()
        .map(|m| {
            let pct = m
                .runtime_fraction
                .as_ref()
                .and_then(|f| f.default_value)
                .map_or(0, |f| f.numerator);
            (m.cluster.as_str(), pct)
        })
        .collect();
    assert_eq!(
        mirrors,
        [
            ("outbound|80||billing.finance.svc.cluster.local", 50_000),
            ("outbound|8080||api.shop.svc.cluster.local", 250_000)
        ]
    );
    let set: Vec<(&str, i32)> = weighted
        .request_headers_to_add
        .iter()
        .map(|h| {
            (
                h.header.as_ref().map_or("", |h| h.key.as_str()),
                h.append_action,
            )
        })
        .collect();
    assert_eq!(
        set,
        [("x-rule", 2), ("x-trace", 0)],
        "set overwrites, add appends"
    );
    assert_eq!(weighted.request_headers_to_remove, ["x-internal"]);
    let Some(route_action::ClusterSpecifier::WeightedClusters(w)) = &a.cluster_specifier else {
        panic!("weighted");
    };
    assert!(format!("{:?}", w.clusters[1].host_rewrite_specifier).contains("v2.web"));

    let faults = by_name("faults");
    let fault: envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault =
        typed(&faults.typed_per_filter_config["envoy.filters.http.fault"]);
    let abort = fault.abort.expect("abort");
    assert_eq!(abort.percentage.map(|p| p.numerator), Some(105_000));
    assert_eq!(
        fault.delay.and_then(|d| d.percentage).map(|p| p.numerator),
        Some(500_000)
    );
    let cors: envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy =
        typed(&by_name("cors").typed_per_filter_config["envoy.filters.http.cors"]);
    assert_eq!(cors.allow_methods, "GET,POST");
    assert_eq!(cors.max_age, "86400");
    assert_eq!(cors.allow_origin_string_match.len(), 2);

    let Some(route::Action::Redirect(redirect)) = &by_name("redirect").action else {
        panic!("redirect");
    };
    assert_eq!(
        redirect.port_redirect, 0,
        "FROM_PROTOCOL_DEFAULT: Envoy's default"
    );
    assert_eq!(redirect.host_redirect, "web.shop");
    assert_eq!(redirect.response_code, 4, "308 is PERMANENT_REDIRECT");
    let Some(route::Action::DirectResponse(direct)) = &by_name("direct").action else {
        panic!("direct response");
    };
    assert_eq!(direct.status, 503);
    let rewrite = action(by_name("uri-kinds"));
    assert_eq!(rewrite.prefix_rewrite, "/rewritten");
    assert!(format!("{:?}", rewrite.host_rewrite_specifier).contains("web.internal"));
}

#[test]
fn delegate_rules_replace_the_delegating_rule_narrowed_by_its_match() {
    let r = features_for(&[]);
    let vh = virtual_host(&r, "8000", "client.shop.svc.cluster.local:8000");
    let matches: Vec<String> = vh
        .routes
        .iter()
        .map(|r| {
            let m = r.r#match.as_ref().expect("match");
            format!("{:?} {}", m.path_specifier, m.headers.len())
        })
        .collect();
    assert_eq!(
        matches,
        [
            "Some(Prefix(\"/api/v2\")) 1",
            // `/other` is outside the root's `/api`: dropped.
            "Some(Prefix(\"/api\")) 1",
            "Some(Prefix(\"/\")) 0"
        ]
    );
    assert_eq!(action(&vh.routes[1]).timeout, Some(seconds(2)));
}
