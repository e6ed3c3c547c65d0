//! Policies on an HTTP route: retries, CORS, fault injection and mirroring.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::constraints::{at_most_one, checked_serde, required};
use super::destination::{Destination, Percent};
use crate::duration::Duration;
use crate::string_match::StringMatch;

/// Retry policy of an HTTP route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRetry {
    /// Number of retries (not counting the first try); 0 or unset disables retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
    /// Timeout of each try, including the first; defaults to the route's timeout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated Envoy retry conditions (`5xx`, `gateway-error`, `connect-failure`,
    /// ..., `retriable-4xx`) and/or HTTP status codes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<String>,
    /// Whether retries may go to endpoints in other localities; default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_remote_localities: Option<bool>,
    /// Whether retries avoid hosts already tried; default true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Base interval between retries (exponential back-off); default 25ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Duration>,
}

/// Cross-Origin Resource Sharing policy of an HTTP route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsPolicy {
    /// Deprecated exact origins; use `allowOrigins`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origin: Vec<String>,
    /// Origins allowed to make requests (`Access-Control-Allow-Origin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<StringMatch>,
    /// Methods allowed (`Access-Control-Allow-Methods`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    /// Request headers allowed (`Access-Control-Allow-Headers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers browsers may read (`Access-Control-Expose-Headers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// How long a preflight response may be cached (`Access-Control-Max-Age`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Duration>,
    /// Whether credentials may be sent (`Access-Control-Allow-Credentials`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// What to do with preflight requests whose origin is not allowed; default FORWARD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatched_preflights: Option<UnmatchedPreflights>,
}

/// Handling of preflight requests that match no allowed origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnmatchedPreflights {
    /// Not set: FORWARD.
    Unspecified,
    /// Forward them to the upstream.
    Forward,
    /// Answer them without CORS headers, without forwarding.
    Ignore,
}

/// Faults injected into requests, to test resilience.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpFaultInjection {
    /// Delay requests before forwarding them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Fail requests without forwarding them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
}

/// An injected delay: `fixedDelay` (or `exponentialDelay`) for a percentage of requests.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "Delay",
    extend("oneOf" = [
        { "not": { "anyOf": [{ "required": ["fixedDelay"] }, { "required": ["exponentialDelay"] }] } },
        { "required": ["fixedDelay"] },
        { "required": ["exponentialDelay"] }
    ])
)]
pub struct Delay {
    /// Deprecated integer percentage (0-100); use `percentage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<i32>,
    /// How long to wait before forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_delay: Option<Duration>,
    /// Not implemented by Istio; accepted for compatibility.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exponential_delay: Option<Duration>,
    /// Share of requests delayed; all when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

checked_serde!(Delay);

/// An injected failure: an HTTP status, a gRPC status or an HTTP/2 error, for a
/// percentage of requests.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(remote = "Self", rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "Abort",
    extend("oneOf" = [
        { "not": { "anyOf": [
            { "required": ["httpStatus"] },
            { "required": ["grpcStatus"] },
            { "required": ["http2Error"] }
        ] } },
        { "required": ["httpStatus"] },
        { "required": ["grpcStatus"] },
        { "required": ["http2Error"] }
    ])
)]
pub struct Abort {
    /// HTTP status returned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<i32>,
    /// gRPC status returned, by name (`UNAVAILABLE`) or number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<String>,
    /// Not implemented by Istio; accepted for compatibility.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http2_error: Option<String>,
    /// Share of requests aborted; all when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

checked_serde!(Abort);

/// A destination that receives a copy of the route's traffic; responses are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpMirrorPolicy {
    /// Where copies go. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub destination: Option<Destination>,
    /// Share of the traffic mirrored; all when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<Percent>,
}

impl HttpRetry {
    /// Retries Istio makes when a route sets no retry policy.
    pub const DEFAULT_ATTEMPTS: u32 = 2;
    /// Conditions retried when the policy sets none.
    pub const DEFAULT_RETRY_ON: &'static str =
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";
    /// Base back-off interval when the policy sets none (Envoy's default).
    pub const DEFAULT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(25);

    /// Number of retries this policy allows: `attempts`, 0 (no retries) when unset.
    pub fn attempts_or_default(&self) -> u32 {
        self.attempts.map_or(0, |a| u32::try_from(a).unwrap_or(0))
    }

    /// The retry conditions, Istio's defaults when unset or empty.
    pub fn retry_on_or_default(&self) -> &str {
        self.retry_on
            .as_deref()
            .filter(|r| !r.is_empty())
            .unwrap_or(Self::DEFAULT_RETRY_ON)
    }

    /// Retries allowed for a route whose policy is `retries`: Istio retries twice when
    /// a route has no policy at all.
    pub fn effective_attempts(retries: Option<&HttpRetry>) -> u32 {
        retries.map_or(Self::DEFAULT_ATTEMPTS, HttpRetry::attempts_or_default)
    }
}

impl Delay {
    fn check(&self) -> Result<(), String> {
        at_most_one(&[
            ("fixedDelay", self.fixed_delay.is_some()),
            ("exponentialDelay", self.exponential_delay.is_some()),
        ])
    }
}

impl Abort {
    fn check(&self) -> Result<(), String> {
        at_most_one(&[
            ("httpStatus", self.http_status.is_some()),
            ("grpcStatus", self.grpc_status.is_some()),
            ("http2Error", self.http2_error.is_some()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn route_without_retry_policy_retries_twice_and_explicit_zero_disables() {
        assert_eq!(HttpRetry::effective_attempts(None), 2);
        let explicit: HttpRetry = serde_json::from_value(json!({"attempts": 0})).unwrap();
        assert_eq!(HttpRetry::effective_attempts(Some(&explicit)), 0);
        assert_eq!(explicit.retry_on_or_default(), HttpRetry::DEFAULT_RETRY_ON);
        let three: HttpRetry =
            serde_json::from_value(json!({"attempts": 3, "retryOn": "5xx"})).unwrap();
        assert_eq!(HttpRetry::effective_attempts(Some(&three)), 3);
        assert_eq!(three.retry_on_or_default(), "5xx");
    }

    #[test]
    fn fault_alternatives_are_exclusive() {
        let err =
            serde_json::from_value::<Delay>(json!({"fixedDelay": "1s", "exponentialDelay": "2s"}))
                .unwrap_err();
        assert!(
            err.to_string()
                .contains("found `fixedDelay` and `exponentialDelay`"),
            "{err}"
        );
        let err = serde_json::from_value::<Abort>(
            json!({"httpStatus": 503, "grpcStatus": "UNAVAILABLE"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("only one of"), "{err}");
        let abort: Abort =
            serde_json::from_value(json!({"httpStatus": 503, "percentage": {"value": 10.0}}))
                .unwrap();
        assert_eq!(abort.http_status, Some(503));
    }
}
