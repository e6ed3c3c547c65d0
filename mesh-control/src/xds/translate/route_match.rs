//! A VirtualService `HTTPMatchRequest` as an Envoy `RouteMatch`.
//!
//! Istio's mapping: `uri` exact/prefix/regex → `path`/`prefix`/`safe_regex` (no
//! `uri` → prefix `/`); `headers` → header matchers, `withoutHeaders` the same
//! inverted; `method`, `authority` and `scheme` → the `:method`, `:authority` and
//! `:scheme` pseudo-headers; `queryParams` → query parameter matchers;
//! `ignoreUriCase` → `case_sensitive: false`. `port`, `sourceLabels`,
//! `sourceNamespace` and `gateways` are decided per proxy and listener before this.

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RouteMatch, header_matcher, query_parameter_matcher,
    route_match,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_api::networking::HttpMatchRequest;
use mesh_api::string_match::StringMatch;

/// The route match of one `HTTPMatchRequest`; `None` matches every request.
pub(crate) fn route_match(m: Option<&HttpMatchRequest>) -> RouteMatch {
    let mut out = RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::Prefix("/".to_string())),
        ..Default::default()
    };
    let Some(m) = m else {
        return out;
    };
    if let Some(uri) = &m.uri {
        out.path_specifier = Some(match uri {
            StringMatch::Exact(p) => route_match::PathSpecifier::Path(p.clone()),
            StringMatch::Prefix(p) => route_match::PathSpecifier::Prefix(p.clone()),
            StringMatch::Regex(r) => route_match::PathSpecifier::SafeRegex(regex(r)),
            StringMatch::Present => route_match::PathSpecifier::Prefix("/".to_string()),
        });
    }
    if m.ignore_uri_case == Some(true) {
        out.case_sensitive = Some(BoolValue { value: false });
    }
    let pseudo = [
        (":method", m.method.as_ref()),
        (":authority", m.authority.as_ref()),
        (":scheme", m.scheme.as_ref()),
    ];
    for (name, matcher) in pseudo {
        // `{}` on a pseudo-header matches everything: no matcher at all.
        if let Some(sm) = matcher.filter(|sm| **sm != StringMatch::Present) {
            out.headers.push(header_matcher(name, sm, false));
        }
    }
    out.headers.extend(
        m.headers
            .iter()
            .map(|(name, sm)| header_matcher(name, sm, false)),
    );
    out.headers.extend(
        m.without_headers
            .iter()
            .map(|(name, sm)| header_matcher(name, sm, true)),
    );
    out.query_parameters = m
        .query_params
        .iter()
        .map(|(name, sm)| QueryParameterMatcher {
            name: name.clone(),
            query_parameter_match_specifier: Some(match string_matcher_of(sm) {
                Some(s) => query_parameter_matcher::QueryParameterMatchSpecifier::StringMatch(s),
                None => query_parameter_matcher::QueryParameterMatchSpecifier::PresentMatch(true),
            }),
        })
        .collect();
    out
}

fn header_matcher(name: &str, sm: &StringMatch, invert: bool) -> HeaderMatcher {
    let specifier = match string_matcher_of(sm) {
        Some(s) => header_matcher::HeaderMatchSpecifier::StringMatch(s),
        None => header_matcher::HeaderMatchSpecifier::PresentMatch(true),
    };
    HeaderMatcher {
        name: name.to_ascii_lowercase(),
        invert_match: invert,
        header_match_specifier: Some(specifier),
        ..Default::default()
    }
}

/// `None` for `{}` (presence).
pub(crate) fn string_matcher_of(sm: &StringMatch) -> Option<StringMatcher> {
    let pattern = match sm {
        StringMatch::Exact(v) => string_matcher::MatchPattern::Exact(v.clone()),
        StringMatch::Prefix(v) => string_matcher::MatchPattern::Prefix(v.clone()),
        StringMatch::Regex(v) => string_matcher::MatchPattern::SafeRegex(regex(v)),
        StringMatch::Present => return None,
    };
    Some(StringMatcher {
        match_pattern: Some(pattern),
        ignore_case: false,
    })
}

/// An RE2 regex matcher (Envoy's default and only safe engine).
pub(crate) fn regex(pattern: &str) -> RegexMatcher {
    RegexMatcher {
        regex: pattern.to_string(),
        ..Default::default()
    }
}
