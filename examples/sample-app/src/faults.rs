//! Failures and delays on demand, so retries, timeouts and outlier detection can be
//! shown: a configured fraction of failing answers, a fixed delay, and per-request
//! `?status=503` / `?delay=100ms`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The failures and delay configured at start-up.
#[derive(Debug)]
pub struct Faults {
    /// Fraction of answers (0.0–1.0) that fail with `fail_status`.
    fail_rate: f64,
    fail_status: u16,
    delay: Duration,
    served: AtomicU64,
}

/// What one request asked for in its query string.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `?status=503`: answer with this status.
    pub status: Option<u16>,
    /// `?delay=100ms`: wait this long before answering.
    pub delay: Option<Duration>,
}

impl Faults {
    /// Checks the rate and status; the error names the flag to fix.
    pub fn new(fail_rate: f64, fail_status: u16, delay: Duration) -> Result<Faults, String> {
        if !(0.0..=1.0).contains(&fail_rate) {
            return Err(format!(
                "--fail-rate {fail_rate}: give a fraction between 0 and 1"
            ));
        }
        if !(100..=599).contains(&fail_status) {
            return Err(format!(
                "--fail-status {fail_status}: give an HTTP status (100-599)"
            ));
        }
        Ok(Faults {
            fail_rate,
            fail_status,
            delay,
            served: AtomicU64::new(0),
        })
    }

    /// No failures, no delay.
    pub fn none() -> Faults {
        Faults {
            fail_rate: 0.0,
            fail_status: 503,
            delay: Duration::ZERO,
            served: AtomicU64::new(0),
        }
    }

    /// The status the next answer fails with, if it is one of the configured fraction.
    /// Deterministic (the n-th answer fails when ⌊n·rate⌋ grows), so any window of
    /// answers fails in the configured proportion and tests need no tolerance.
    pub fn next_failure(&self) -> Option<u16> {
        let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
        #[allow(clippy::cast_precision_loss)]
        let (now, before) = (n as f64 * self.fail_rate, (n - 1) as f64 * self.fail_rate);
        (now.floor() > before.floor()).then_some(self.fail_status)
    }

    pub fn delay(&self) -> Duration {
        self.delay
    }
}

impl Directives {
    /// Reads `status` and `delay` from a query string; other parameters are ignored.
    pub fn from_query(query: Option<&str>) -> Result<Directives, String> {
        let mut directives = Directives::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "status" => {
                    let status = value
                        .parse::<u16>()
                        .ok()
                        .filter(|s| (100..=599).contains(s))
                        .ok_or_else(|| format!("?status={value}: give an HTTP status (100-599)"))?;
                    directives.status = Some(status);
                }
                "delay" => {
                    directives.delay =
                        Some(parse_duration(value).map_err(|e| format!("?delay={value}: {e}"))?);
                }
                _ => {}
            }
        }
        Ok(directives)
    }
}

/// `250ms`, `1.5s`, `2m`: Istio's duration syntax, parsed as the rest of the mesh
/// parses it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    mesh_api::duration::parse_std(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_fail_rate_fails_exactly_one_answer_in_four() {
        let faults = Faults::new(0.25, 503, Duration::ZERO).expect("valid");
        let failed = (0..400).filter(|_| faults.next_failure().is_some()).count();
        assert_eq!(failed, 100);
    }

    #[test]
    fn zero_and_full_fail_rates_are_never_and_always() {
        let never = Faults::none();
        assert!((0..50).all(|_| never.next_failure().is_none()));
        let always = Faults::new(1.0, 500, Duration::ZERO).expect("valid");
        assert!((0..50).all(|_| always.next_failure() == Some(500)));
    }

    #[test]
    fn out_of_range_flags_are_rejected_naming_the_flag() {
        let err = Faults::new(1.5, 503, Duration::ZERO).expect_err("rate > 1");
        assert!(err.contains("--fail-rate"), "{err}");
        let err = Faults::new(0.1, 42, Duration::ZERO).expect_err("status < 100");
        assert!(err.contains("--fail-status"), "{err}");
    }

    #[test]
    fn query_directives_are_parsed_and_others_ignored() {
        let d = Directives::from_query(Some("a=b&status=503&delay=100ms")).expect("valid");
        assert_eq!(d.status, Some(503));
        assert_eq!(d.delay, Some(Duration::from_millis(100)));
        assert_eq!(Directives::from_query(None), Ok(Directives::default()));
        assert!(Directives::from_query(Some("status=abc")).is_err());
        assert!(Directives::from_query(Some("delay=3 weeks")).is_err());
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("250").is_err(), "a bare number has no unit");
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert!(parse_duration("fast").is_err());
    }
}
