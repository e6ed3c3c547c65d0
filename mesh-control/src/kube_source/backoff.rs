//! How watches retry. kube's default (client-go's) waits up to 30 s with full jitter,
//! which left config stale one to two minutes after an API server restart here; a
//! control plane should catch up within seconds: 0.5 s doubling to 10 s, each wait
//! jittered down by up to half so that watches do not retry in lockstep. Reset by
//! the first event that gets through.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::runtime::utils::Backoff;

const FIRST: Duration = Duration::from_millis(500);
const MAX: Duration = Duration::from_secs(10);

/// The retry waits of one watch.
#[derive(Debug, Clone)]
pub struct WatchBackoff {
    next: Duration,
}

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: FIRST }
    }
}

impl Iterator for WatchBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.next = (self.next * 2).min(MAX);
        // Sub-second clock noise is jitter enough to spread a few dozen watches.
        let noise = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let fraction = f64::from(noise % 1000) / 2000.0;
        Some(wait.mul_f64(1.0 - fraction))
    }
}

impl Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_ten_seconds_and_reset() {
        let mut backoff = WatchBackoff::default();
        let waits: Vec<Duration> = backoff.by_ref().take(8).collect();
        assert!(waits[0] <= FIRST && waits[0] >= FIRST / 2);
        assert!(waits.iter().all(|w| *w <= MAX));
        assert!(waits[7] >= MAX / 2, "capped at 10 s: {waits:?}");
        backoff.reset();
        assert!(backoff.next().is_some_and(|w| w <= FIRST));
    }
}
