use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    StringMatcher as StringMatcherProto, string_matcher,
};
use envoy_types::pb::envoy::r#type::v3::FractionalPercent;
use envoy_types::pb::google::protobuf::BoolValue;
use hyper::header::HeaderValue;

use super::*;

/// Istio's CORS task: `allowOrigins: [{exact: https://example.com}]`, methods POST,GET,
/// `allowCredentials: false`, `allowHeaders: [X-Foo-Bar]`, `maxAge: 24h`.
fn istio_task_policy() -> CorsPolicy {
    CorsPolicy {
        allow_origin_string_match: vec![StringMatcherProto {
            match_pattern: Some(string_matcher::MatchPattern::Exact(
                "https://example.com".into(),
            )),
            ignore_case: false,
        }],
        allow_methods: "POST,GET".into(),
        allow_headers: "X-Foo-Bar".into(),
        expose_headers: "X-Envoy-Upstream-Service-Time".into(),
        max_age: "86400".into(),
        allow_credentials: Some(BoolValue { value: false }),
        filter_enabled: Some(RuntimeFractionalPercent {
            default_value: Some(FractionalPercent {
                numerator: 100,
                denominator: 0,
            }),
            runtime_key: String::new(),
        }),
        ..Default::default()
    }
}

fn cors(p: &CorsPolicy) -> Cors {
    build_cors(&Any {
        type_url: CORS_POLICY.into(),
        value: p.encode_to_vec(),
    })
    .expect("supported")
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn a_preflight_from_an_allowed_origin_is_answered_with_the_policy() {
    let c = cors(&istio_task_policy());
    let h = headers(&[
        ("origin", "https://example.com"),
        ("access-control-request-method", "GET"),
    ]);
    assert_eq!(
        c.on_request(&Method::OPTIONS, &h, 0),
        CorsOutcome::Preflight(vec![
            ("access-control-allow-origin", "https://example.com".into()),
            ("access-control-allow-methods", "POST,GET".into()),
            ("access-control-allow-headers", "X-Foo-Bar".into()),
            ("access-control-max-age", "86400".into()),
            (
                "access-control-expose-headers",
                "X-Envoy-Upstream-Service-Time".into()
            ),
        ])
    );
}

#[test]
fn a_simple_request_from_an_allowed_origin_gets_allow_and_expose_headers() {
    let c = cors(&istio_task_policy());
    let h = headers(&[("origin", "https://example.com")]);
    assert_eq!(
        c.on_request(&Method::GET, &h, 0),
        CorsOutcome::Forward(vec![
            ("access-control-allow-origin", "https://example.com".into()),
            (
                "access-control-expose-headers",
                "X-Envoy-Upstream-Service-Time".into()
            ),
        ])
    );
}

#[test]
fn other_origins_and_requests_without_origin_get_nothing() {
    let c = cors(&istio_task_policy());
    let other = headers(&[("origin", "https://evil.example")]);
    assert_eq!(
        c.on_request(&Method::GET, &other, 0),
        CorsOutcome::Forward(vec![])
    );
    assert_eq!(
        c.on_request(&Method::GET, &HeaderMap::new(), 0),
        CorsOutcome::Pass
    );
    // A preflight from another origin goes upstream (forward_not_matching_preflights
    // defaults to true)...
    let preflight = headers(&[
        ("origin", "https://evil.example"),
        ("access-control-request-method", "GET"),
    ]);
    assert_eq!(
        c.on_request(&Method::OPTIONS, &preflight, 0),
        CorsOutcome::Forward(vec![])
    );
    // ...or, when it is false, is answered without allow-origin, as Envoy does.
    let mut p = istio_task_policy();
    p.forward_not_matching_preflights = Some(BoolValue { value: false });
    let CorsOutcome::Preflight(answer) = cors(&p).on_request(&Method::OPTIONS, &preflight, 0)
    else {
        panic!("answered by the proxy")
    };
    assert!(
        answer
            .iter()
            .all(|(name, _)| *name != "access-control-allow-origin"),
        "{answer:?}"
    );
}

#[test]
fn wildcards_echo_what_the_preflight_asked_for() {
    let mut p = istio_task_policy();
    p.allow_methods = "*".into();
    p.allow_headers = "*".into();
    p.allow_credentials = Some(BoolValue { value: true });
    let h = headers(&[
        ("origin", "https://example.com"),
        ("access-control-request-method", "PUT"),
        ("access-control-request-headers", "x-a,x-b"),
    ]);
    let CorsOutcome::Preflight(answer) = cors(&p).on_request(&Method::OPTIONS, &h, 0) else {
        panic!("a preflight")
    };
    assert!(answer.contains(&("access-control-allow-methods", "PUT".into())));
    assert!(answer.contains(&("access-control-allow-headers", "x-a,x-b".into())));
    assert!(answer.contains(&("access-control-allow-credentials", "true".into())));
}

#[test]
fn shadow_mode_and_runtime_keys_are_refused() {
    let mut p = istio_task_policy();
    p.shadow_enabled = p.filter_enabled.clone();
    let err = build_cors(&Any {
        type_url: CORS_POLICY.into(),
        value: p.encode_to_vec(),
    })
    .expect_err("refused");
    assert!(err.contains("shadow_enabled"), "{err}");
}
