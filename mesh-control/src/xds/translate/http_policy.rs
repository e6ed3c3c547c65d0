//! Per-route HTTP policies: retries, fault injection, CORS, mirroring and header
//! operations, as Istio renders them.

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, RuntimeFractionalPercent,
    header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::RetryPolicy;
use envoy_types::pb::envoy::config::route::v3::retry_policy::{
    RetryBackOff, RetryHostPredicate, retry_host_predicate,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{FaultDelay, fault_delay};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy as EnvoyCorsPolicy;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort,
};
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_api::networking::{CorsPolicy, HeaderOperations, HttpFaultInjection, HttpRetry, Percent};

use super::proto::{any, duration, fractional_percent, u32_value};
use super::route_match::string_matcher_of;

/// Envoy's name for the retry host predicate that avoids hosts already tried.
const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";
/// How many times Envoy may re-pick a host to avoid a previous one (Istio's value).
const HOST_SELECTION_RETRY_MAX_ATTEMPTS: i64 = 5;
/// Status retried by Istio's default policy (with `retriable-status-codes`).
const DEFAULT_RETRIABLE_STATUS: u32 = 503;

/// The route's retry policy. No `retries` gives Istio's default (2 retries on
/// connect failure, refused stream, unavailable, cancelled, 503); `attempts: 0`
/// gives none. Numeric codes in `retryOn` become `retriable_status_codes`.
pub(crate) fn retry_policy(
    retries: Option<&HttpRetry>,
    consistent_hash: bool,
) -> Option<RetryPolicy> {
    let attempts = HttpRetry::effective_attempts(retries);
    if attempts == 0 {
        return None;
    }
    let mut out = RetryPolicy {
        retry_on: HttpRetry::DEFAULT_RETRY_ON.to_string(),
        num_retries: Some(u32_value(attempts)),
        retriable_status_codes: vec![DEFAULT_RETRIABLE_STATUS],
        host_selection_retry_max_attempts: HOST_SELECTION_RETRY_MAX_ATTEMPTS,
        ..Default::default()
    };
    let ignore_previous = retries
        .and_then(|r| r.retry_ignore_previous_hosts)
        .unwrap_or(true);
    // A retry to another host would break consistent-hash stickiness.
    if ignore_previous && !consistent_hash {
        out.retry_host_predicate = vec![RetryHostPredicate {
            name: PREVIOUS_HOSTS.to_string(),
            config_type: Some(retry_host_predicate::ConfigType::TypedConfig(any(
                &PreviousHostsPredicate::default(),
            ))),
        }];
    }
    let Some(r) = retries else {
        return Some(out);
    };
    if let Some(retry_on) = r.retry_on.as_deref().filter(|s| !s.trim().is_empty()) {
        let mut policies = Vec::new();
        let mut codes = Vec::new();
        for token in retry_on.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match token.parse::<u32>() {
                Ok(code) => codes.push(code),
                Err(_) => policies.push(token.to_string()),
            }
        }
        if !codes.is_empty() && !policies.iter().any(|p| p == "retriable-status-codes") {
            policies.push("retriable-status-codes".to_string());
        }
        out.retry_on = policies.join(",");
        out.retriable_status_codes = codes;
    }
    out.per_try_timeout = r.per_try_timeout.as_ref().map(|d| duration(d.as_std()));
    if let Some(backoff) = &r.backoff {
        out.retry_back_off = Some(RetryBackOff {
            base_interval: Some(duration(backoff.as_std())),
            max_interval: None,
        });
    }
    Some(out)
}

/// The share of requests a percentage applies to: `percentage`, else the deprecated
/// integer, else all.
fn percent_or_all(percentage: Option<&Percent>, legacy: Option<i32>) -> f64 {
    match (percentage.and_then(|p| p.value), legacy) {
        (Some(v), _) => v,
        (None, Some(v)) => f64::from(v),
        (None, None) => 100.0,
    }
}

/// The per-route config of `envoy.filters.http.fault`.
pub(crate) fn fault(f: &HttpFaultInjection) -> Option<HttpFault> {
    let delay = f.delay.as_ref().and_then(|d| {
        let fixed = d.fixed_delay.as_ref()?;
        Some(FaultDelay {
            percentage: Some(fractional_percent(percent_or_all(
                d.percentage.as_ref(),
                d.percent,
            ))),
            fault_delay_secifier: Some(fault_delay::FaultDelaySecifier::FixedDelay(duration(
                fixed.as_std(),
            ))),
        })
    });
    let abort = f.abort.as_ref().and_then(|a| {
        let error_type = if let Some(status) = a.http_status {
            fault_abort::ErrorType::HttpStatus(u32::try_from(status).ok()?)
        } else if let Some(grpc) = &a.grpc_status {
            fault_abort::ErrorType::GrpcStatus(grpc_status_code(grpc)?)
        } else {
            return None;
        };
        Some(FaultAbort {
            percentage: Some(fractional_percent(percent_or_all(
                a.percentage.as_ref(),
                None,
            ))),
            error_type: Some(error_type),
            ..Default::default()
        })
    });
    if delay.is_none() && abort.is_none() {
        return None;
    }
    Some(HttpFault {
        delay,
        abort,
        ..Default::default()
    })
}

/// A gRPC status by name (`UNAVAILABLE`) or number.
fn grpc_status_code(status: &str) -> Option<u32> {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    status.parse::<u32>().ok().or_else(|| {
        NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(status))
            .and_then(|i| u32::try_from(i).ok())
    })
}

/// The per-route config of `envoy.filters.http.cors`.
pub(crate) fn cors(c: &CorsPolicy) -> EnvoyCorsPolicy {
    let mut origins: Vec<StringMatcher> = c
        .allow_origin
        .iter()
        .map(|o| StringMatcher {
            match_pattern: Some(string_matcher::MatchPattern::Exact(o.clone())),
            ignore_case: false,
        })
        .collect();
    origins.extend(c.allow_origins.iter().filter_map(string_matcher_of));
    EnvoyCorsPolicy {
        allow_origin_string_match: origins,
        allow_methods: c.allow_methods.join(","),
        allow_headers: c.allow_headers.join(","),
        expose_headers: c.expose_headers.join(","),
        max_age: c
            .max_age
            .as_ref()
            .map(|d| d.as_std().as_secs().to_string())
            .unwrap_or_default(),
        allow_credentials: c.allow_credentials.map(|value| BoolValue { value }),
        filter_enabled: Some(RuntimeFractionalPercent {
            default_value: Some(fractional_percent(100.0)),
            runtime_key: String::new(),
        }),
        forward_not_matching_preflights: c.unmatched_preflights.map(|u| BoolValue {
            value: u != mesh_api::networking::UnmatchedPreflights::Ignore,
        }),
        ..Default::default()
    }
}

/// The share of requests a mirror gets (all when unset).
pub(crate) fn mirror_fraction(
    percentage: Option<&Percent>,
    legacy: Option<u32>,
) -> RuntimeFractionalPercent {
    let legacy = legacy.and_then(|v| i32::try_from(v).ok());
    RuntimeFractionalPercent {
        default_value: Some(fractional_percent(percent_or_all(percentage, legacy))),
        runtime_key: String::new(),
    }
}

/// Header changes in Envoy's form: `set` overwrites, `add` appends, `remove` removes.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct HeaderChanges {
    pub(crate) to_add: Vec<HeaderValueOption>,
    pub(crate) to_remove: Vec<String>,
    /// `set` of `host` / `:authority`: Envoy may not change them as headers; Istio
    /// turns this into a host rewrite.
    pub(crate) authority: Option<String>,
}

pub(crate) fn header_changes(ops: Option<&HeaderOperations>) -> HeaderChanges {
    let mut out = HeaderChanges::default();
    let Some(ops) = ops else {
        return out;
    };
    let option = |key: &str, value: &str, action: HeaderAppendAction| HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_string(),
            value: value.to_string(),
            ..Default::default()
        }),
        append_action: action as i32,
        ..Default::default()
    };
    for (k, v) in &ops.set {
        if is_authority(k) {
            out.authority = Some(v.clone());
        } else if !k.starts_with(':') {
            out.to_add
                .push(option(k, v, HeaderAppendAction::OverwriteIfExistsOrAdd));
        }
    }
    for (k, v) in &ops.add {
        if !is_authority(k) && !k.starts_with(':') {
            out.to_add
                .push(option(k, v, HeaderAppendAction::AppendIfExistsOrAdd));
        }
    }
    out.to_remove = ops
        .remove
        .iter()
        .filter(|k| !is_authority(k) && !k.starts_with(':'))
        .cloned()
        .collect();
    out
}

fn is_authority(header: &str) -> bool {
    header.eq_ignore_ascii_case("host") || header == ":authority"
}
