//! When to ask the CA (pure). A certificate is renewed at a random point between 40%
//! and 50% of its remaining life: at half life as ztunnel and Istio do, spread so that
//! a fleet started together does not renew together, and never later than half, so
//! that the old certificate has half its life left to cover a CA outage. A failed
//! attempt is retried after an exponential backoff with jitter.

use std::time::{Duration, SystemTime};

/// Retry delays after failures: `min`, doubling up to `max`, each scaled by 50–100%.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

/// Wall-clock time, as certificates speak it. Tests follow tokio's (paused) clock
/// from a fixed start, so that sleeping moves certificate time too.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    Wall,
    #[cfg_attr(not(test), allow(dead_code))]
    FollowsTokio {
        start: SystemTime,
        at: tokio::time::Instant,
    },
}

impl Backoff {
    /// What `mesh-proxy` uses: quick at first (a control plane starting beside the
    /// proxy), a minute at most (a CA down for long is asked once a minute).
    pub(crate) const DEFAULT: Backoff = Backoff {
        min: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    /// The wait after the `failures`-th failure in a row (1 for the first);
    /// `jitter` in [0, 1).
    pub(crate) fn delay(&self, failures: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        let base = self.min.saturating_mul(1 << exponent).min(self.max);
        base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

impl Clock {
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn following_tokio() -> Clock {
        Clock::FollowsTokio {
            start: SystemTime::now(),
            at: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> SystemTime {
        match self {
            Clock::Wall => SystemTime::now(),
            Clock::FollowsTokio { start, at } => *start + at.elapsed(),
        }
    }
}

/// How long to wait before renewing a certificate that expires at `not_after`;
/// `jitter` in [0, 1).
pub(crate) fn renewal_delay(now: SystemTime, not_after: SystemTime, jitter: f64) -> Duration {
    let remaining = not_after.duration_since(now).unwrap_or_default();
    remaining.mul_f64(0.5 - 0.1 * jitter.clamp(0.0, 1.0))
}

/// A number in [0, 1) for the jitter.
pub(crate) fn jitter() -> f64 {
    (crate::proxy::random() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn renewal_comes_between_forty_and_fifty_percent_of_the_remaining_life() {
        let now = SystemTime::UNIX_EPOCH + HOUR * 1000;
        let not_after = now + HOUR * 24;
        assert_eq!(renewal_delay(now, not_after, 0.0), HOUR * 12);
        let latest_jitter = renewal_delay(now, not_after, 0.999_999);
        assert!(latest_jitter >= HOUR * 24 * 2 / 5, "{latest_jitter:?}");
        assert!(latest_jitter < HOUR * 24 * 2 / 5 + Duration::from_secs(1));
        // Half of what is left, not of the original life: a certificate found half
        // used (a restart) is renewed sooner.
        assert_eq!(renewal_delay(now + HOUR * 12, not_after, 0.0), HOUR * 6);
        assert_eq!(
            renewal_delay(not_after + HOUR, not_after, 0.5),
            Duration::ZERO
        );
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let backoff = Backoff::DEFAULT;
        let least: Vec<u128> = (1..=8).map(|n| backoff.delay(n, 0.0).as_millis()).collect();
        assert_eq!(least, [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
        let most: Vec<u128> = (1..=8)
            .map(|n| backoff.delay(n, 0.999_999).as_millis())
            .collect();
        assert_eq!(
            most,
            [999, 1999, 3999, 7999, 15_999, 31_999, 59_999, 59_999]
        );
        assert_eq!(backoff.delay(u32::MAX, 0.0), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_in_the_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
