//! Fault injection (`envoy.filters.http.fault` per-route config): a fixed delay and
//! an abort, each for a share of requests, decided before the request goes upstream.
//! Pure: the caller passes the random draws, so decisions are testable.

use std::time::Duration;

use envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{HttpFault, fault_abort};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::Any;
use hyper::StatusCode;
use prost::Message;

use super::build::proto_duration;

const HTTP_FAULT: &str = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/// A route's faults.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub delay: Option<(Duration, Share)>,
    pub abort: Option<(Abort, Share)>,
}

/// How an aborted request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abort {
    Http(StatusCode),
    /// HTTP 200 with this `grpc-status`, in a trailers-only response.
    Grpc(u32),
}

/// Envoy's `FractionalPercent`: `numerator` out of `denominator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub numerator: u32,
    pub denominator: u32,
}

/// What the fault filter does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultDecision {
    pub delay: Option<Duration>,
    pub abort: Option<Abort>,
}

impl Share {
    pub fn from_proto(p: Option<&FractionalPercent>) -> Share {
        // An unset proto is 0 of HUNDRED: no request (the translator always sets it).
        let Some(p) = p else {
            return Share {
                numerator: 0,
                denominator: 100,
            };
        };
        let denominator = match DenominatorType::try_from(p.denominator) {
            Ok(DenominatorType::TenThousand) => 10_000,
            Ok(DenominatorType::Million) => 1_000_000,
            _ => 100,
        };
        Share {
            numerator: p.numerator.min(denominator),
            denominator,
        }
    }

    /// Whether a uniform random draw falls in the share (Envoy: `draw % d < n`).
    pub fn hit(self, draw: u64) -> bool {
        draw % u64::from(self.denominator) < u64::from(self.numerator)
    }
}

impl Fault {
    /// Decides with two independent random draws, one per fault, as Envoy does.
    pub fn decide(&self, delay_draw: u64, abort_draw: u64) -> FaultDecision {
        FaultDecision {
            delay: self
                .delay
                .filter(|(_, share)| share.hit(delay_draw))
                .map(|(d, _)| d),
            abort: self
                .abort
                .filter(|(_, share)| share.hit(abort_draw))
                .map(|(a, _)| a),
        }
    }
}

/// The per-route `typed_per_filter_config` of the fault filter; an error names the
/// field it cannot apply as Envoy would.
pub(crate) fn build_fault(any: &Any) -> Result<Fault, String> {
    if any.type_url != HTTP_FAULT {
        return Err(format!("type {} is not the fault filter's", any.type_url));
    }
    let f = HttpFault::decode(any.value.as_slice()).map_err(|e| format!("cannot decode: {e}"))?;
    if !f.headers.is_empty() || !f.downstream_nodes.is_empty() || !f.upstream_cluster.is_empty() {
        return Err("headers, downstream_nodes and upstream_cluster are not supported".into());
    }
    if f.response_rate_limit.is_some() {
        return Err("response_rate_limit is not supported".into());
    }
    let delay = match f.delay {
        None => None,
        Some(d) => match d.fault_delay_secifier {
            Some(FaultDelaySecifier::FixedDelay(fixed)) => Some((
                proto_duration(&fixed),
                Share::from_proto(d.percentage.as_ref()),
            )),
            _ => return Err("delay: only fixed_delay is supported".into()),
        },
    };
    let abort = match f.abort {
        None => None,
        Some(a) => {
            let abort = match a.error_type {
                Some(fault_abort::ErrorType::HttpStatus(s)) => Abort::Http(
                    u16::try_from(s)
                        .ok()
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .filter(|s| s.as_u16() >= 200)
                        .ok_or_else(|| format!("abort.http_status: {s} is not a status"))?,
                ),
                Some(fault_abort::ErrorType::GrpcStatus(s)) => Abort::Grpc(s),
                _ => return Err("abort: only http_status and grpc_status are supported".into()),
            };
            Some((abort, Share::from_proto(a.percentage.as_ref())))
        }
    };
    Ok(Fault { delay, abort })
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::extensions::filters::common::fault::v3::FaultDelay;
    use envoy_types::pb::envoy::extensions::filters::http::fault::v3::FaultAbort;
    use envoy_types::pb::google::protobuf::Duration as ProtoDuration;

    use super::*;

    fn percent(numerator: u32, denominator: DenominatorType) -> Option<FractionalPercent> {
        Some(FractionalPercent {
            numerator,
            denominator: denominator as i32,
        })
    }

    fn any(f: &HttpFault) -> Any {
        Any {
            type_url: HTTP_FAULT.into(),
            value: f.encode_to_vec(),
        }
    }

    #[test]
    fn istios_delay_and_abort_are_decided_per_request_by_their_shares() {
        // Istio's `delay: {fixedDelay: 7s, percentage: {value: 100}}` and
        // `abort: {httpStatus: 500, percentage: {value: 12.5}}` (the translator uses
        // TEN_THOUSAND/MILLION for fractions).
        let fault = build_fault(&any(&HttpFault {
            delay: Some(FaultDelay {
                percentage: percent(100, DenominatorType::Hundred),
                fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(ProtoDuration {
                    seconds: 7,
                    nanos: 0,
                })),
            }),
            abort: Some(FaultAbort {
                percentage: percent(125_000, DenominatorType::Million),
                error_type: Some(fault_abort::ErrorType::HttpStatus(500)),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .expect("supported");
        let always_delay = fault.decide(0, 999_999);
        assert_eq!(always_delay.delay, Some(Duration::from_secs(7)));
        assert_eq!(always_delay.abort, None);
        assert_eq!(
            fault.decide(42, 124_999).abort,
            Some(Abort::Http(StatusCode::INTERNAL_SERVER_ERROR))
        );
        let aborted = (0..1_000_000u64)
            .step_by(7)
            .filter(|d| fault.decide(0, *d).abort.is_some())
            .count();
        let expected = 1_000_000 / 7 / 8;
        assert!(aborted.abs_diff(expected) < 100, "{aborted} vs {expected}");
    }

    #[test]
    fn grpc_aborts_and_missing_percentages() {
        let abort = |percentage| {
            build_fault(&any(&HttpFault {
                abort: Some(FaultAbort {
                    percentage,
                    error_type: Some(fault_abort::ErrorType::GrpcStatus(14)),
                    ..Default::default()
                }),
                ..Default::default()
            }))
            .expect("supported")
        };
        let all = abort(percent(100, DenominatorType::Hundred));
        assert_eq!(all.decide(5, 5).abort, Some(Abort::Grpc(14)));
        assert_eq!(all.decide(5, 5).delay, None);
        // As Envoy reads an unset percentage: 0 of 100.
        assert_eq!(abort(None).decide(0, 0).abort, None);
    }

    #[test]
    fn what_cannot_be_applied_is_refused_by_field() {
        let err = build_fault(&any(&HttpFault {
            upstream_cluster: "reviews".into(),
            ..Default::default()
        }))
        .expect_err("refused");
        assert!(err.contains("upstream_cluster"), "{err}");
        let err = build_fault(&Any {
            type_url: "type.googleapis.com/acme.Fault".into(),
            value: vec![],
        })
        .expect_err("refused");
        assert!(err.contains("acme.Fault"), "{err}");
    }
}
