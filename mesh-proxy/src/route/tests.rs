//! Route matching and rewriting, against hand-built `RouteConfiguration`s shaped
//! like the translator's output.

use envoy_types::pb::envoy::config::route::v3 as proto;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher as StringMatcherProto, string_matcher,
};
use envoy_types::pb::google::protobuf::{BoolValue, Duration as ProtoDuration, UInt32Value};
use hyper::HeaderMap;
use proto::header_matcher::HeaderMatchSpecifier;
use proto::route_match::PathSpecifier;

use super::*;

fn route_to(name: &str, path: PathSpecifier, cluster: &str) -> proto::Route {
    proto::Route {
        name: name.to_string(),
        r#match: Some(proto::RouteMatch {
            path_specifier: Some(path),
            ..Default::default()
        }),
        action: Some(proto::route::Action::Route(proto::RouteAction {
            cluster_specifier: Some(proto::route_action::ClusterSpecifier::Cluster(
                cluster.to_string(),
            )),
            timeout: Some(ProtoDuration {
                seconds: 0,
                nanos: 0,
            }),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn prefix(p: &str) -> PathSpecifier {
    PathSpecifier::Prefix(p.to_string())
}

fn table(vhosts: Vec<(&str, Vec<&str>, Vec<proto::Route>)>) -> RouteTable {
    build_route_table(&route_config(vhosts)).expect("route config builds")
}

/// Built, or the reason it is refused.
fn try_table(vhosts: Vec<(&str, Vec<&str>, Vec<proto::Route>)>) -> Result<RouteTable, String> {
    build_route_table(&route_config(vhosts)).map_err(|e| e.to_string())
}

fn route_config(vhosts: Vec<(&str, Vec<&str>, Vec<proto::Route>)>) -> proto::RouteConfiguration {
    proto::RouteConfiguration {
        name: "8080".to_string(),
        virtual_hosts: vhosts
            .into_iter()
            .map(|(name, domains, routes)| proto::VirtualHost {
                name: name.to_string(),
                domains: domains.into_iter().map(str::to_string).collect(),
                routes,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn exact_header(name: &str, value: &str, invert: bool) -> proto::HeaderMatcher {
    proto::HeaderMatcher {
        name: name.to_string(),
        invert_match: invert,
        header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(StringMatcherProto {
            match_pattern: Some(string_matcher::MatchPattern::Exact(value.to_string())),
            ignore_case: false,
        })),
        ..Default::default()
    }
}

/// The name of the route `method path` with `headers` takes on `authority`.
fn routed(
    t: &RouteTable,
    authority: &str,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Option<String> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(*k, v.parse().expect("header value"));
    }
    let head = RequestHead {
        method: "GET",
        scheme: "http",
        authority,
        path,
        headers: &map,
    };
    t.route(&head)
        .map(|(vh, r)| format!("{}/{}", vh.name, r.name))
}

#[test]
fn exact_domain_beats_wildcards_and_port_is_part_of_the_host() {
    let t = table(vec![
        (
            "suffix",
            vec!["*.example.com"],
            vec![route_to("r", prefix("/"), "a")],
        ),
        (
            "longer-suffix",
            vec!["*.api.example.com"],
            vec![route_to("r", prefix("/"), "a")],
        ),
        (
            "prefix",
            vec!["web.*"],
            vec![route_to("r", prefix("/"), "a")],
        ),
        (
            "exact",
            vec!["web.example.com", "web.example.com:8080"],
            vec![route_to("r", prefix("/"), "a")],
        ),
        ("default", vec!["*"], vec![route_to("r", prefix("/"), "a")]),
    ]);
    assert_eq!(
        routed(&t, "web.example.com", "/", &[]).as_deref(),
        Some("exact/r")
    );
    assert_eq!(
        routed(&t, "WEB.example.com:8080", "/", &[]).as_deref(),
        Some("exact/r")
    );
    assert_eq!(
        routed(&t, "x.api.example.com", "/", &[]).as_deref(),
        Some("longer-suffix/r")
    );
    assert_eq!(
        routed(&t, "x.example.com", "/", &[]).as_deref(),
        Some("suffix/r")
    );
    assert_eq!(
        routed(&t, "web.other", "/", &[]).as_deref(),
        Some("prefix/r")
    );
    assert_eq!(
        routed(&t, "web.example.com:9090", "/", &[]).as_deref(),
        Some("prefix/r")
    );
    assert_eq!(routed(&t, "nope", "/", &[]).as_deref(), Some("default/r"));
}

#[test]
fn unknown_host_without_default_has_no_route() {
    let t = table(vec![(
        "only",
        vec!["a"],
        vec![route_to("r", prefix("/"), "a")],
    )]);
    assert_eq!(routed(&t, "b", "/", &[]), None);
}

#[test]
fn first_matching_route_wins_and_paths_ignore_the_query() {
    let mut exact = route_to("exact", PathSpecifier::Path("/v2".into()), "b");
    exact
        .r#match
        .as_mut()
        .expect("match")
        .query_parameters
        .push(proto::QueryParameterMatcher {
            name: "debug".into(),
            query_parameter_match_specifier: Some(
                proto::query_parameter_matcher::QueryParameterMatchSpecifier::PresentMatch(true),
            ),
        });
    let regex = route_to(
        "regex",
        PathSpecifier::SafeRegex(RegexMatcher {
            regex: "/items/[0-9]+".into(),
            ..Default::default()
        }),
        "c",
    );
    let t = table(vec![(
        "vh",
        vec!["*"],
        vec![exact, regex, route_to("default", prefix("/"), "a")],
    )]);
    assert_eq!(
        routed(&t, "h", "/v2?debug", &[]).as_deref(),
        Some("vh/exact")
    );
    assert_eq!(
        routed(&t, "h", "/v2?x=1&debug=0", &[]).as_deref(),
        Some("vh/exact")
    );
    assert_eq!(routed(&t, "h", "/v2", &[]).as_deref(), Some("vh/default"));
    assert_eq!(
        routed(&t, "h", "/items/42?x=1", &[]).as_deref(),
        Some("vh/regex")
    );
    assert_eq!(
        routed(&t, "h", "/items/42/more", &[]).as_deref(),
        Some("vh/default")
    );
}

#[test]
fn case_insensitive_prefix() {
    let mut r = route_to("nocase", prefix("/CaSe"), "a");
    r.r#match.as_mut().expect("match").case_sensitive = Some(BoolValue { value: false });
    let t = table(vec![("vh", vec!["*"], vec![r])]);
    assert_eq!(
        routed(&t, "h", "/case/x", &[]).as_deref(),
        Some("vh/nocase")
    );
    assert_eq!(routed(&t, "h", "/cas", &[]), None);
}

#[test]
fn header_matchers_follow_envoy_for_absent_headers() {
    let mut jason = route_to("jason", prefix("/"), "v2");
    jason
        .r#match
        .as_mut()
        .expect("match")
        .headers
        .push(exact_header("end-user", "jason", false));
    let mut not_canary = route_to("not-canary", prefix("/canary"), "v3");
    not_canary
        .r#match
        .as_mut()
        .expect("match")
        .headers
        .push(proto::HeaderMatcher {
            name: "x-canary".into(),
            invert_match: true,
            header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
            ..Default::default()
        });
    let mut not_blue = route_to("not-blue", prefix("/color"), "v3");
    not_blue
        .r#match
        .as_mut()
        .expect("match")
        .headers
        .push(exact_header("x-color", "blue", true));
    let t = table(vec![(
        "vh",
        vec!["*"],
        vec![
            jason,
            not_canary,
            not_blue,
            route_to("default", prefix("/"), "v1"),
        ],
    )]);
    assert_eq!(
        routed(&t, "h", "/", &[("end-user", "jason")]).as_deref(),
        Some("vh/jason")
    );
    assert_eq!(
        routed(&t, "h", "/", &[("end-user", "Jason")]).as_deref(),
        Some("vh/default")
    );
    assert_eq!(
        routed(&t, "h", "/canary", &[]).as_deref(),
        Some("vh/not-canary")
    );
    assert_eq!(
        routed(&t, "h", "/canary", &[("x-canary", "1")]).as_deref(),
        Some("vh/default")
    );
    assert_eq!(
        routed(&t, "h", "/color", &[("x-color", "red")]).as_deref(),
        Some("vh/not-blue")
    );
    // Envoy: an inverted value matcher does not match an absent header.
    assert_eq!(
        routed(&t, "h", "/color", &[]).as_deref(),
        Some("vh/default")
    );
}

#[test]
fn method_is_matched_as_a_pseudo_header() {
    let mut post = route_to("post", prefix("/api"), "v3");
    post.r#match
        .as_mut()
        .expect("match")
        .headers
        .push(exact_header(":method", "POST", false));
    let t = table(vec![("vh", vec!["*"], vec![post])]);
    assert_eq!(routed(&t, "h", "/api", &[]), None, "GET is not POST");
}

#[test]
fn weighted_draw_walks_clusters_in_order() {
    let c = |name: &str, weight| WeightedCluster {
        name: name.into(),
        weight,
        request_headers: HeaderOps::default(),
        response_headers: HeaderOps::default(),
        host_rewrite: None,
    };
    let clusters = [c("v1", 80), c("v2", 20)];
    assert_eq!(
        pick_weighted(&clusters, 0).map(|c| c.name.as_str()),
        Some("v1")
    );
    assert_eq!(
        pick_weighted(&clusters, 79).map(|c| c.name.as_str()),
        Some("v1")
    );
    assert_eq!(
        pick_weighted(&clusters, 80).map(|c| c.name.as_str()),
        Some("v2")
    );
    assert_eq!(
        pick_weighted(&clusters, 199).map(|c| c.name.as_str()),
        Some("v2")
    );
    let v1 = (0..1000u64)
        .filter(|r| pick_weighted(&clusters, *r).map(|c| c.name.as_str()) == Some("v1"))
        .count();
    assert_eq!(v1, 800);
}

#[test]
fn prefix_rewrite_replaces_the_matched_prefix_and_keeps_the_query() {
    let mut r = route_to("old", prefix("/old/"), "a");
    if let Some(proto::route::Action::Route(a)) = &mut r.action {
        a.prefix_rewrite = "/new/".into();
        a.host_rewrite_specifier =
            Some(proto::route_action::HostRewriteSpecifier::HostRewriteLiteral("x.example".into()));
    }
    let t = table(vec![("vh", vec!["*"], vec![r])]);
    let route = &t.virtual_hosts[0].routes[0];
    let RouteAction::Forward(f) = &route.action else {
        panic!("forward")
    };
    assert_eq!(
        f.rewritten_path(&route.matcher, "/old/page?q=1").as_deref(),
        Some("/new/page?q=1")
    );
    assert_eq!(f.host_rewrite.as_deref(), Some("x.example"));
    assert_eq!(f.timeout, None, "0s disables the timeout");
}

#[test]
fn regex_rewrite_uses_re2_substitutions() {
    let mut r = route_to("re", prefix("/re/"), "a");
    if let Some(proto::route::Action::Route(a)) = &mut r.action {
        a.regex_rewrite = Some(
            envoy_types::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute {
                pattern: Some(RegexMatcher {
                    regex: "/re/([a-z]+)/(.*)".into(),
                    ..Default::default()
                }),
                substitution: "/\\2/\\1".into(),
            },
        );
    }
    let t = table(vec![("vh", vec!["*"], vec![r])]);
    let route = &t.virtual_hosts[0].routes[0];
    let RouteAction::Forward(f) = &route.action else {
        panic!("forward")
    };
    assert_eq!(
        f.rewritten_path(&route.matcher, "/re/abc/rest?x=1")
            .as_deref(),
        Some("/rest/abc?x=1")
    );
}

#[test]
fn redirect_location_as_envoy_builds_it() {
    let m = RouteMatch {
        path: PathMatch::Prefix("/".into()),
        case_sensitive: true,
        headers: vec![],
        query_parameters: vec![],
    };
    let r = Redirect {
        host: Some("other.example".into()),
        path: Some("/elsewhere".into()),
        status: 301,
        ..Default::default()
    };
    assert_eq!(
        r.location(&m, "http", "web:8080", "/moved?a=1"),
        "http://other.example/elsewhere?a=1"
    );
    let r = Redirect {
        scheme: Some("https".into()),
        port: Some(8443),
        status: 301,
        ..Default::default()
    };
    assert_eq!(
        r.location(&m, "http", "web:8080", "/a?b=c"),
        "https://web:8443/a?b=c"
    );
    let r = Redirect {
        path: Some("/here".into()),
        strip_query: true,
        status: 308,
        ..Default::default()
    };
    assert_eq!(
        r.location(&m, "http", "web:80", "/p?x=1"),
        "http://web/here"
    );
}

#[test]
fn unsupported_route_features_are_refused_with_their_place() {
    let mut r = route_to("mirrored", prefix("/"), "a");
    if let Some(proto::route::Action::Route(a)) = &mut r.action {
        a.request_mirror_policies.push(Default::default());
    }
    let err = try_table(vec![("vh", vec!["*"], vec![r])]).expect_err("mirroring is refused");
    assert!(
        err.contains("\"8080\"")
            && err.contains("\"vh\"")
            && err.contains("mirrored")
            && err.contains("request_mirror_policies"),
        "{err}"
    );
}

#[test]
fn retry_policy_defaults_follow_envoy() {
    let mut r = route_to("retry", prefix("/"), "a");
    if let Some(proto::route::Action::Route(a)) = &mut r.action {
        a.retry_policy = Some(proto::RetryPolicy {
            retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
                .into(),
            num_retries: Some(UInt32Value { value: 2 }),
            retriable_status_codes: vec![503],
            ..Default::default()
        });
    }
    let t = table(vec![("vh", vec!["*"], vec![r])]);
    let RouteAction::Forward(f) = &t.virtual_hosts[0].routes[0].action else {
        panic!("forward")
    };
    let p = f.retry_policy.as_ref().expect("retry policy");
    assert_eq!(p.num_retries, 2);
    assert!(
        p.retry_on.connect_failure && p.retry_on.retriable_status_codes && !p.retry_on.server_error
    );
    assert_eq!(p.retriable_status_codes, vec![503]);
    assert_eq!(p.base_interval, std::time::Duration::from_millis(25));
}

#[test]
fn every_retry_on_istio_passes_through_is_understood() {
    let parsed = |retry_on: &str| {
        let mut r = route_to("retry", prefix("/"), "a");
        if let Some(proto::route::Action::Route(a)) = &mut r.action {
            a.retry_policy = Some(proto::RetryPolicy {
                retry_on: retry_on.into(),
                ..Default::default()
            });
        }
        try_table(vec![("vh", vec!["*"], vec![r])]).map(|t| {
            match &t.virtual_hosts[0].routes[0].action {
                RouteAction::Forward(f) => f.retry_policy.as_ref().map(|p| p.retry_on),
                _ => None,
            }
        })
    };
    let on = parsed(
        "5xx,gateway-error,reset,connect-failure,envoy-ratelimited,retriable-4xx,\
         refused-stream,retriable-status-codes,http3-post-connect-failure,\
         cancelled,deadline-exceeded,internal,resource-exhausted,unavailable",
    )
    .expect("Envoy's retry_on values")
    .expect("a policy");
    assert!(on.server_error && on.gateway_error && on.reset && on.connect_failure);
    assert!(on.envoy_ratelimited && on.conflict && on.refused_stream);
    assert!(on.grpc_cancelled && on.grpc_deadline_exceeded && on.grpc_internal);
    assert!(on.grpc_resource_exhausted && on.grpc_unavailable);
    // Retrying on headers needs `retriable_headers`, not served yet: refused by name.
    let err = parsed("retriable-headers").expect_err("refused");
    assert!(err.contains("retriable-headers"), "{err}");
}
