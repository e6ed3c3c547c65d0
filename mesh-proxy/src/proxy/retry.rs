//! The retry policy's decisions: which answers are retried, how many retries are
//! left, and how long to wait before the next.

use std::time::Duration;

use hyper::Response;

use super::attempts::Attempt;
use super::headers::random;
use crate::config::Cluster;
use crate::route::RetryPolicy;
use crate::upstream::RetryAdmission;

/// A request's retries under its policy (none without one).
#[derive(Debug)]
pub(super) struct Retries<'a> {
    policy: Option<&'a RetryPolicy>,
    left: u32,
    round: u32,
    /// The retry in progress, counted against the cluster's `max_retries` until the
    /// next one.
    _running: Option<RetryAdmission>,
}

impl<'a> Retries<'a> {
    pub(super) fn new(policy: Option<&'a RetryPolicy>) -> Retries<'a> {
        Retries {
            policy,
            left: policy.map_or(0, |p| p.num_retries),
            round: 0,
            _running: None,
        }
    }

    /// Whether `attempt` is retried: the policy's conditions say so, retries are
    /// left, and the cluster's circuit breaker has room for one more (else the
    /// answer stands, as Envoy's `upstream_rq_retry_overflow`). Claims the retry.
    pub(super) fn claim(&mut self, attempt: &Attempt, cluster: &Cluster) -> bool {
        let Some(policy) = self.policy else {
            return false;
        };
        let retriable = match attempt {
            Attempt::Response(resp) => retriable_response(policy, resp),
            Attempt::Failed { retriable, .. } => *retriable,
        };
        if !retriable || self.left == 0 {
            return false;
        }
        let Some(admission) = cluster.runtime.admit_retry() else {
            return false;
        };
        self._running = Some(admission);
        self.left -= 1;
        true
    }

    /// Waits out the back-off before the retry just claimed.
    pub(super) async fn back_off(&mut self) {
        if let Some(p) = self.policy {
            tokio::time::sleep(backoff(p.base_interval, self.round)).await;
        }
        self.round += 1;
    }
}

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
        || (on.grpc_internal && grpc == Some(13))
        || (on.conflict && status == 409)
        || (on.envoy_ratelimited && resp.headers().contains_key("x-envoy-ratelimited"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::RetryOn;

    fn policy(retry_on: RetryOn) -> RetryPolicy {
        RetryPolicy {
            retry_on,
            num_retries: 2,
            per_try_timeout: None,
            retriable_status_codes: vec![418],
            base_interval: Duration::from_millis(25),
        }
    }

    fn response(status: u16, headers: &[(&'static str, &'static str)]) -> Response<()> {
        let mut r = Response::builder().status(status);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(()).expect("response")
    }

    #[test]
    fn each_condition_retries_what_envoy_documents_and_nothing_else() {
        let cases: [(RetryOn, Response<()>, Response<()>); 6] = [
            (
                RetryOn {
                    server_error: true,
                    ..Default::default()
                },
                response(500, &[]),
                response(404, &[]),
            ),
            (
                RetryOn {
                    gateway_error: true,
                    ..Default::default()
                },
                response(503, &[]),
                response(500, &[]),
            ),
            (
                RetryOn {
                    retriable_status_codes: true,
                    ..Default::default()
                },
                response(418, &[]),
                response(503, &[]),
            ),
            (
                RetryOn {
                    conflict: true,
                    ..Default::default()
                },
                response(409, &[]),
                response(400, &[]),
            ),
            (
                RetryOn {
                    grpc_internal: true,
                    ..Default::default()
                },
                response(200, &[("grpc-status", "13")]),
                response(200, &[("grpc-status", "14")]),
            ),
            (
                RetryOn {
                    envoy_ratelimited: true,
                    ..Default::default()
                },
                response(429, &[("x-envoy-ratelimited", "true")]),
                response(429, &[]),
            ),
        ];
        for (on, retried, kept) in cases {
            let p = policy(on);
            assert!(
                retriable_response(&p, &retried),
                "{on:?} retries {retried:?}"
            );
            assert!(!retriable_response(&p, &kept), "{on:?} keeps {kept:?}");
        }
    }
}
