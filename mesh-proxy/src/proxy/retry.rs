//! The retry policy's decisions: which answers are retried, and how long to wait.

use std::time::Duration;

use hyper::Response;

use super::headers::random;
use crate::route::RetryPolicy;

/// Whether the policy's conditions retry this response.
pub(super) fn retriable_response<B>(p: &RetryPolicy, resp: &Response<B>) -> bool {
    let status = resp.status().as_u16();
    let on = &p.retry_on;
    let grpc = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    (on.server_error && status >= 500)
        || (on.gateway_error && (502..=504).contains(&status))
        || (on.retriable_status_codes && p.retriable_status_codes.contains(&status))
        || (on.grpc_cancelled && grpc == Some(1))
        || (on.grpc_deadline_exceeded && grpc == Some(4))
        || (on.grpc_resource_exhausted && grpc == Some(8))
        || (on.grpc_unavailable && grpc == Some(14))
}

/// Envoy's retry back-off: a random time in [0, base·2ⁿ), capped at 10× base.
pub(super) fn backoff(base: Duration, round: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << round.min(16))
        .min(base.saturating_mul(10));
    let millis = u64::try_from(ceiling.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_millis(random() % millis)
}
