//! `RouteConfiguration` protos → [`RouteTable`], refusing what the proxy cannot do.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::data_source;
use envoy_types::pb::envoy::config::route::v3 as proto;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher as StringMatcherProto, string_matcher,
};
use hyper::StatusCode;
use proto::header_matcher::HeaderMatchSpecifier;
use proto::query_parameter_matcher::QueryParameterMatchSpecifier;
use proto::redirect_action::{PathRewriteSpecifier, SchemeRewriteSpecifier};
use proto::route::Action;
use proto::route_action::{ClusterSpecifier as ClusterSpecifierProto, HostRewriteSpecifier};
use proto::route_match::PathSpecifier;
use regex::Regex;

use super::cors::build_cors;
use super::fault::build_fault;
use super::header_ops::header_ops;
use super::{
    ClusterSpecifier, Forward, HeaderMatchKind, HeaderMatcher, Mirror, PathMatch,
    QueryParameterMatcher, Redirect, RetryOn, RetryPolicy, Route, RouteAction, RouteMatch,
    RouteTable, Share, StringMatcher, VirtualHost, WeightedCluster,
};
use crate::balance::{HashPolicy, HashPolicyKind};
use crate::config::{ConfigError, FieldError};

/// HTTP filters whose per-route config this proxy applies.
const FAULT_FILTER: &str = "envoy.filters.http.fault";
const CORS_FILTER: &str = "envoy.filters.http.cors";

/// Compiles a route configuration. Any field the proxy would ignore where Envoy acts is
/// an error, so that the caller NACKs rather than routes differently.
pub fn build_route_table(rc: &proto::RouteConfiguration) -> Result<RouteTable, ConfigError> {
    let err = |place: Vec<String>, reason: String| {
        FieldError {
            field: place,
            reason,
        }
        .of("route config", &rc.name)
    };
    let mut virtual_hosts = Vec::with_capacity(rc.virtual_hosts.len());
    for vh in &rc.virtual_hosts {
        let place = vec![format!("virtual host {:?}", vh.name)];
        #[allow(deprecated)]
        let vh_cors = vh.cors.is_some();
        if vh.retry_policy.is_some() || vh_cors || !vh.typed_per_filter_config.is_empty() {
            return Err(err(
                place,
                "virtual-host-level retry_policy, cors and typed_per_filter_config are not supported yet".into(),
            ));
        }
        let mut routes = Vec::with_capacity(vh.routes.len());
        for (i, r) in vh.routes.iter().enumerate() {
            let mut place = place.clone();
            place.push(format!("route {} ({:?})", i, r.name));
            routes.push(build_route(r).map_err(|reason| err(place, reason))?);
        }
        virtual_hosts.push(VirtualHost {
            name: vh.name.clone(),
            domains: vh.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            routes,
            request_headers: header_ops(&vh.request_headers_to_add, &vh.request_headers_to_remove)
                .map_err(|reason| err(place.clone(), reason))?,
            response_headers: header_ops(
                &vh.response_headers_to_add,
                &vh.response_headers_to_remove,
            )
            .map_err(|reason| err(place.clone(), reason))?,
        });
    }
    Ok(RouteTable {
        name: rc.name.clone(),
        virtual_hosts,
    })
}

fn build_route(r: &proto::Route) -> Result<Route, String> {
    let mut fault = None;
    let mut cors = None;
    for (filter, config) in &r.typed_per_filter_config {
        let place = |e: String| format!("typed_per_filter_config[{filter:?}]: {e}");
        match filter.as_str() {
            FAULT_FILTER => fault = Some(build_fault(config).map_err(place)?),
            CORS_FILTER => cors = Some(build_cors(config).map_err(place)?),
            _ => return Err(place("this filter is not supported".into())),
        }
    }
    let matcher = build_match(r.r#match.as_ref().ok_or("match: missing")?)
        .map_err(|e| format!("match: {e}"))?;
    let action = match &r.action {
        Some(Action::Route(a)) => RouteAction::Forward(Box::new(build_forward(a)?)),
        Some(Action::Redirect(a)) => RouteAction::Redirect(build_redirect(a)?),
        Some(Action::DirectResponse(d)) => {
            let status = u16::try_from(d.status)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| format!("direct_response.status: {} is not a status", d.status))?;
            let body = match d.body.as_ref().and_then(|b| b.specifier.as_ref()) {
                None => None,
                Some(data_source::Specifier::InlineString(s)) => Some(s.clone()),
                Some(data_source::Specifier::InlineBytes(b)) => {
                    Some(String::from_utf8_lossy(b).into_owned())
                }
                Some(_) => {
                    return Err("direct_response.body: only inline bodies are supported".into());
                }
            };
            RouteAction::DirectResponse { status, body }
        }
        _ => return Err("action: only route, redirect and direct_response are supported".into()),
    };
    Ok(Route {
        name: r.name.as_str().into(),
        matcher,
        action,
        request_headers: header_ops(&r.request_headers_to_add, &r.request_headers_to_remove)?,
        response_headers: header_ops(&r.response_headers_to_add, &r.response_headers_to_remove)?,
        fault,
        cors,
    })
}

fn build_match(m: &proto::RouteMatch) -> Result<RouteMatch, String> {
    if m.runtime_fraction.is_some() || m.grpc.is_some() || m.tls_context.is_some() {
        return Err("runtime_fraction, grpc and tls_context are not supported yet".into());
    }
    if !m.dynamic_metadata.is_empty() || !m.filter_state.is_empty() {
        return Err("dynamic_metadata and filter_state are not supported".into());
    }
    let case_sensitive = m.case_sensitive.as_ref().is_none_or(|b| b.value);
    let path = match &m.path_specifier {
        Some(PathSpecifier::Prefix(p)) => PathMatch::Prefix(p.clone()),
        Some(PathSpecifier::Path(p)) => PathMatch::Exact(p.clone()),
        Some(PathSpecifier::SafeRegex(r)) => PathMatch::Regex(full_regex(r, case_sensitive)?),
        _ => return Err("path_specifier: only prefix, path and safe_regex are supported".into()),
    };
    let headers = m
        .headers
        .iter()
        .map(build_header_matcher)
        .collect::<Result<_, _>>()?;
    let query_parameters = m
        .query_parameters
        .iter()
        .map(|q| {
            let value = match &q.query_parameter_match_specifier {
                Some(QueryParameterMatchSpecifier::StringMatch(s)) => Some(string_matcher(s)?),
                Some(QueryParameterMatchSpecifier::PresentMatch(_)) | None => None,
            };
            Ok(QueryParameterMatcher {
                name: q.name.clone(),
                value,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(RouteMatch {
        path,
        case_sensitive,
        headers,
        query_parameters,
    })
}

fn build_header_matcher(h: &proto::HeaderMatcher) -> Result<HeaderMatcher, String> {
    let exact = |value: &str| {
        HeaderMatchKind::String(StringMatcher::Exact {
            value: value.to_string(),
            ignore_case: false,
        })
    };
    #[allow(deprecated)]
    let kind = match &h.header_match_specifier {
        Some(HeaderMatchSpecifier::ExactMatch(v)) => exact(v),
        Some(HeaderMatchSpecifier::PrefixMatch(v)) => {
            HeaderMatchKind::String(StringMatcher::Prefix {
                value: v.clone(),
                ignore_case: false,
            })
        }
        Some(HeaderMatchSpecifier::SuffixMatch(v)) => {
            HeaderMatchKind::String(StringMatcher::Suffix {
                value: v.clone(),
                ignore_case: false,
            })
        }
        Some(HeaderMatchSpecifier::ContainsMatch(v)) => {
            HeaderMatchKind::String(StringMatcher::Contains {
                value: v.clone(),
                ignore_case: false,
            })
        }
        Some(HeaderMatchSpecifier::SafeRegexMatch(r)) => {
            HeaderMatchKind::String(StringMatcher::Regex(full_regex(r, true)?))
        }
        Some(HeaderMatchSpecifier::StringMatch(s)) => HeaderMatchKind::String(string_matcher(s)?),
        Some(HeaderMatchSpecifier::PresentMatch(p)) => HeaderMatchKind::Present(*p),
        Some(HeaderMatchSpecifier::RangeMatch(r)) => HeaderMatchKind::Range {
            start: r.start,
            end: r.end,
        },
        // Envoy: a matcher without a specifier checks presence.
        None => HeaderMatchKind::Present(true),
    };
    Ok(HeaderMatcher {
        name: h.name.to_ascii_lowercase(),
        kind,
        invert: h.invert_match,
        treat_missing_as_empty: h.treat_missing_header_as_empty,
    })
}

pub(super) fn string_matcher(s: &StringMatcherProto) -> Result<StringMatcher, String> {
    use string_matcher::MatchPattern;
    let ignore_case = s.ignore_case;
    Ok(match &s.match_pattern {
        Some(MatchPattern::Exact(v)) => StringMatcher::Exact {
            value: v.clone(),
            ignore_case,
        },
        Some(MatchPattern::Prefix(v)) => StringMatcher::Prefix {
            value: v.clone(),
            ignore_case,
        },
        Some(MatchPattern::Suffix(v)) => StringMatcher::Suffix {
            value: v.clone(),
            ignore_case,
        },
        Some(MatchPattern::Contains(v)) => StringMatcher::Contains {
            value: v.clone(),
            ignore_case,
        },
        Some(MatchPattern::SafeRegex(r)) => StringMatcher::Regex(full_regex(r, true)?),
        _ => return Err("string matcher: unsupported pattern".into()),
    })
}

/// An RE2 pattern as Envoy applies it: the whole value must match.
fn full_regex(r: &RegexMatcher, case_sensitive: bool) -> Result<Regex, String> {
    let flags = if case_sensitive { "" } else { "(?i)" };
    Regex::new(&format!("^{flags}(?:{})$", r.regex))
        .map_err(|e| format!("safe_regex {:?}: {e}", r.regex))
}

fn build_forward(a: &proto::RouteAction) -> Result<Forward, String> {
    let clusters = match &a.cluster_specifier {
        Some(ClusterSpecifierProto::Cluster(c)) => ClusterSpecifier::Cluster(c.clone()),
        Some(ClusterSpecifierProto::WeightedClusters(w)) => {
            let mut out = Vec::with_capacity(w.clusters.len());
            for c in &w.clusters {
                out.push(WeightedCluster {
                    name: c.name.clone(),
                    weight: c.weight.as_ref().map_or(0, |w| w.value),
                    request_headers: header_ops(
                        &c.request_headers_to_add,
                        &c.request_headers_to_remove,
                    )?,
                    response_headers: header_ops(
                        &c.response_headers_to_add,
                        &c.response_headers_to_remove,
                    )?,
                    host_rewrite: c.host_rewrite_specifier.as_ref().map(|h| {
                        let proto::weighted_cluster::cluster_weight::HostRewriteSpecifier::HostRewriteLiteral(h) = h;
                        h.clone()
                    }),
                });
            }
            if out.iter().all(|c| c.weight == 0) {
                return Err("route.weighted_clusters: every weight is 0".into());
            }
            ClusterSpecifier::Weighted(out)
        }
        _ => {
            return Err(
                "route.cluster_specifier: only cluster and weighted_clusters are supported".into(),
            );
        }
    };
    let host_rewrite = match &a.host_rewrite_specifier {
        None => None,
        Some(HostRewriteSpecifier::HostRewriteLiteral(h)) => Some(h.clone()),
        Some(_) => {
            return Err(
                "route.host_rewrite_specifier: only host_rewrite_literal is supported".into(),
            );
        }
    };
    let regex_rewrite = match &a.regex_rewrite {
        None => None,
        Some(r) => {
            let pattern = r
                .pattern
                .as_ref()
                .ok_or("route.regex_rewrite.pattern: missing")?;
            let regex = Regex::new(&pattern.regex)
                .map_err(|e| format!("route.regex_rewrite {:?}: {e}", pattern.regex))?;
            Some((regex, re2_substitution(&r.substitution)))
        }
    };
    let timeout = match &a.timeout {
        None => Some(super::DEFAULT_ROUTE_TIMEOUT),
        Some(d) => Some(proto_duration(d)).filter(|d| !d.is_zero()),
    };
    let hash_policies = a
        .hash_policy
        .iter()
        .map(build_hash_policy)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("route.hash_policy: {e}"))?;
    let mirrors = a
        .request_mirror_policies
        .iter()
        .map(build_mirror)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("route.request_mirror_policies: {e}"))?;
    Ok(Forward {
        hash_policies,
        mirrors,
        clusters,
        prefix_rewrite: Some(a.prefix_rewrite.clone()).filter(|p| !p.is_empty()),
        regex_rewrite,
        host_rewrite,
        timeout,
        retry_policy: a
            .retry_policy
            .as_ref()
            .map(build_retry_policy)
            .transpose()?,
    })
}

/// A mirror: the cluster and the share of requests it gets a copy of.
fn build_mirror(m: &proto::route_action::RequestMirrorPolicy) -> Result<Mirror, String> {
    if m.cluster.is_empty() {
        return Err("cluster_header is not supported, only cluster".into());
    }
    if !m.request_headers_mutations.is_empty() {
        return Err("request_headers_mutations are not supported".into());
    }
    let share = match &m.runtime_fraction {
        // Unset: every request, as Envoy reads it.
        None => Share {
            numerator: 100,
            denominator: 100,
        },
        Some(f) if !f.runtime_key.is_empty() => {
            return Err("runtime_fraction.runtime_key: runtime overrides are not supported".into());
        }
        Some(f) => Share::from_proto(f.default_value.as_ref()),
    };
    Ok(Mirror {
        cluster: m.cluster.clone(),
        share,
        shadow_host_suffix: !m.disable_shadow_host_suffix_append,
    })
}

/// One of the route's hash policies, for ring hash and maglev clusters.
fn build_hash_policy(p: &proto::route_action::HashPolicy) -> Result<HashPolicy, String> {
    use proto::route_action::hash_policy::PolicySpecifier;
    let kind = match &p.policy_specifier {
        Some(PolicySpecifier::Header(h)) if h.regex_rewrite.is_none() => HashPolicyKind::Header {
            name: h.header_name.to_ascii_lowercase(),
        },
        Some(PolicySpecifier::Cookie(c)) if c.attributes.is_empty() => HashPolicyKind::Cookie {
            name: c.name.clone(),
            ttl: c.ttl.as_ref().map(proto_duration),
            path: c.path.clone(),
        },
        Some(PolicySpecifier::ConnectionProperties(c)) if c.source_ip => HashPolicyKind::SourceIp,
        Some(PolicySpecifier::QueryParameter(q)) => HashPolicyKind::QueryParameter {
            name: q.name.clone(),
        },
        _ => {
            return Err(
                "only header (without regex_rewrite), cookie (without attributes), source IP \
                 and query parameter policies are supported"
                    .into(),
            );
        }
    };
    Ok(HashPolicy {
        kind,
        terminal: p.terminal,
    })
}

fn build_retry_policy(p: &proto::RetryPolicy) -> Result<RetryPolicy, String> {
    let mut on = RetryOn::default();
    for cond in p
        .retry_on
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        match cond {
            "5xx" => on.server_error = true,
            "gateway-error" => on.gateway_error = true,
            "connect-failure" => on.connect_failure = true,
            "reset" | "reset-before-request" => on.reset = true,
            "retriable-status-codes" => on.retriable_status_codes = true,
            "refused-stream" => on.refused_stream = true,
            "unavailable" => on.grpc_unavailable = true,
            "cancelled" => on.grpc_cancelled = true,
            "deadline-exceeded" => on.grpc_deadline_exceeded = true,
            "resource-exhausted" => on.grpc_resource_exhausted = true,
            "internal" => on.grpc_internal = true,
            "retriable-4xx" => on.conflict = true,
            "envoy-ratelimited" => on.envoy_ratelimited = true,
            // Failures after an HTTP/3 connection was made: never HTTP/3 here.
            "http3-post-connect-failure" => {}
            other => {
                return Err(format!(
                    "route.retry_policy.retry_on: {other:?} is not supported yet"
                ));
            }
        }
    }
    let base_interval = p
        .retry_back_off
        .as_ref()
        .and_then(|b| b.base_interval.as_ref())
        .map_or(Duration::from_millis(25), proto_duration);
    Ok(RetryPolicy {
        retry_on: on,
        num_retries: p.num_retries.as_ref().map_or(1, |n| n.value),
        per_try_timeout: p
            .per_try_timeout
            .as_ref()
            .map(proto_duration)
            .filter(|d| !d.is_zero()),
        retriable_status_codes: p
            .retriable_status_codes
            .iter()
            .filter_map(|c| u16::try_from(*c).ok())
            .collect(),
        base_interval,
    })
}

fn build_redirect(a: &proto::RedirectAction) -> Result<Redirect, String> {
    let (path, prefix_rewrite) = match &a.path_rewrite_specifier {
        None => (None, None),
        Some(PathRewriteSpecifier::PathRedirect(p)) => (Some(p.clone()), None),
        Some(PathRewriteSpecifier::PrefixRewrite(p)) => (None, Some(p.clone())),
        Some(_) => {
            return Err("redirect.path_rewrite_specifier: only path_redirect and prefix_rewrite are supported".into());
        }
    };
    let scheme = match &a.scheme_rewrite_specifier {
        None => None,
        Some(SchemeRewriteSpecifier::HttpsRedirect(true)) => Some("https".to_string()),
        Some(SchemeRewriteSpecifier::HttpsRedirect(false)) => None,
        Some(SchemeRewriteSpecifier::SchemeRedirect(s)) => Some(s.to_ascii_lowercase()),
    };
    let status = match a.response_code {
        1 => 302,
        2 => 303,
        3 => 307,
        4 => 308,
        _ => 301,
    };
    Ok(Redirect {
        scheme,
        host: Some(a.host_redirect.clone()).filter(|h| !h.is_empty()),
        port: u16::try_from(a.port_redirect).ok().filter(|p| *p != 0),
        path,
        prefix_rewrite,
        strip_query: a.strip_query,
        status,
    })
}

/// RE2 substitutions write `\1`; the regex crate writes `${1}`.
fn re2_substitution(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(d)) if d.is_ascii_digit() => {
                out.push_str(&format!("${{{d}}}"));
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            ('$', _) => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

pub fn proto_duration(d: &envoy_types::pb::google::protobuf::Duration) -> Duration {
    let secs = u64::try_from(d.seconds).unwrap_or(0);
    let nanos = u32::try_from(d.nanos).unwrap_or(0);
    Duration::new(secs, nanos)
}
