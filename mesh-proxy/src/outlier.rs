//! Envoy's outlier detection for one cluster (`Outlier::DetectorImpl`), as a pure state
//! machine: results and time come in as arguments, ejections and unejections come out.
//!
//! # API
//!
//! - [`OutlierDetectionConfig`]: Envoy's `OutlierDetection` fields with Envoy's defaults
//!   (`Default`). Istio's DestinationRule maps onto it as Istio does: `consecutive5xxErrors`
//!   sets `consecutive_5xx` (0 sets `enforcing_consecutive_5xx` to 0),
//!   `consecutiveGatewayErrors` sets `consecutive_gateway_failure` and
//!   `enforcing_consecutive_gateway_failure = 100`, plus `interval`, `base_ejection_time`
//!   and `max_ejection_percent`.
//! - [`OutlierDetector::new(config, hosts, seed)`](OutlierDetector::new) over host keys `H`
//!   (an address, an index: anything `Ord + Clone`); `seed` drives the only randomness
//!   (partial enforcement percentages and ejection jitter).
//! - [`OutlierDetector::set_hosts`] when EDS changes the cluster's members.
//! - [`OutlierDetector::put_result(host, result, now)`](OutlierDetector::put_result) after
//!   each upstream response or connect outcome ([`UpstreamResult`]); returns the
//!   [`EjectionType`] when it ejected the host. `now` is monotonic time since any fixed
//!   origin (e.g. proxy start).
//! - [`OutlierDetector::on_interval(now)`](OutlierDetector::on_interval) every `interval`;
//!   returns the hosts it brought back.
//! - [`OutlierDetector::is_ejected`], [`OutlierDetector::stats`] (Envoy's
//!   `outlier_detection.*` counters), [`OutlierDetector::num_ejections`].
//!
//! Ejected hosts should be given to the load balancer as unhealthy; healthy panic may still
//! route to them, as in Envoy.
//!
//! Success-rate and failure-percentage detection are not implemented: Istio sets
//! `enforcing_success_rate` to 0 and Envoy's `enforcing_failure_percentage` defaults to 0.
//! Errors are not split by origin (`split_external_local_origin_errors: false`, Istio's
//! setting): a connect failure counts as a 503, a timeout as a 504.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::balance::{RandomGenerator, SplitMix64};

/// Envoy's `config.cluster.v3.OutlierDetection` (the consecutive-error part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierDetectionConfig {
    /// Time between sweeps that bring hosts back (default 10 s).
    pub interval: Duration,
    /// Ejection time unit, multiplied by the host's ejection backoff (default 30 s).
    pub base_ejection_time: Duration,
    /// Longest ejection (default the larger of 300 s and `base_ejection_time`).
    pub max_ejection_time: Duration,
    /// Up to this much random time is added to each ejection (default 0).
    pub max_ejection_time_jitter: Duration,
    /// At most this percentage of the cluster's hosts ejected at once (default 10).
    pub max_ejection_percent: u32,
    /// Eject one host even when `max_ejection_percent` would allow none (default false).
    pub always_eject_one_host: bool,
    /// Consecutive 5xx that trigger an ejection (default 5).
    pub consecutive_5xx: u32,
    /// Percent chance a consecutive-5xx detection ejects (default 100).
    pub enforcing_consecutive_5xx: u32,
    /// Consecutive 502/503/504 that trigger an ejection (default 5).
    pub consecutive_gateway_failure: u32,
    /// Percent chance a gateway-failure detection ejects (default 0: detect only).
    pub enforcing_consecutive_gateway_failure: u32,
}

/// What happened to one request or connection to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamResult {
    /// The upstream answered with this HTTP status.
    HttpStatus(u16),
    /// Connecting failed (counted as 503).
    ConnectFailed,
    /// The request timed out (counted as 504).
    Timeout,
    /// A non-HTTP transaction failed (counted as 500).
    RequestFailed,
    /// A non-HTTP transaction succeeded (counted as 200).
    RequestSuccess,
    /// The connection was established; the HTTP status will follow (ignored).
    ConnectSuccess,
}

/// Why a host was ejected (Envoy's `OutlierEjectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EjectionType {
    /// `CONSECUTIVE_5XX`.
    Consecutive5xx,
    /// `CONSECUTIVE_GATEWAY_FAILURE`.
    ConsecutiveGatewayFailure,
}

/// Envoy's `cluster.<name>.outlier_detection.*` statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// Gauge: hosts ejected now.
    pub ejections_active: u64,
    /// Ejections that took effect.
    pub ejections_enforced_total: u64,
    /// Ejections refused because of `max_ejection_percent`.
    pub ejections_overflow: u64,
    /// Enforced consecutive-5xx ejections.
    pub ejections_enforced_consecutive_5xx: u64,
    /// Detected consecutive-5xx outliers, enforced or not.
    pub ejections_detected_consecutive_5xx: u64,
    /// Enforced gateway-failure ejections.
    pub ejections_enforced_consecutive_gateway_failure: u64,
    /// Detected gateway-failure outliers, enforced or not.
    pub ejections_detected_consecutive_gateway_failure: u64,
}

/// The outlier detector of one cluster.
#[derive(Debug)]
pub struct OutlierDetector<H> {
    config: OutlierDetectionConfig,
    hosts: BTreeMap<H, HostMonitor>,
    stats: OutlierStats,
    random: SplitMix64,
}

/// Envoy's `DetectorHostMonitorImpl`: one host's counters and ejection history.
#[derive(Debug, Clone, Default)]
struct HostMonitor {
    consecutive_5xx: u32,
    consecutive_gateway_failure: u32,
    ejected: bool,
    num_ejections: u32,
    eject_time_backoff: u32,
    jitter: Duration,
    last_ejection_time: Option<Duration>,
    last_unejection_time: Option<Duration>,
}

impl Default for OutlierDetectionConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_time_jitter: Duration::ZERO,
            max_ejection_percent: 10,
            always_eject_one_host: false,
            consecutive_5xx: 5,
            enforcing_consecutive_5xx: 100,
            consecutive_gateway_failure: 5,
            enforcing_consecutive_gateway_failure: 0,
        }
    }
}

impl UpstreamResult {
    /// The status Envoy maps the result to, when not splitting local-origin errors.
    fn http_status(self) -> Option<u16> {
        match self {
            Self::HttpStatus(status) => Some(status),
            Self::ConnectFailed => Some(503),
            Self::Timeout => Some(504),
            Self::RequestFailed => Some(500),
            Self::RequestSuccess => Some(200),
            Self::ConnectSuccess => None,
        }
    }
}

impl<H: Ord + Clone> OutlierDetector<H> {
    /// A detector watching `hosts`; `seed` seeds enforcement percentages and jitter.
    pub fn new(
        config: OutlierDetectionConfig,
        hosts: impl IntoIterator<Item = H>,
        seed: u64,
    ) -> Self {
        Self {
            config,
            hosts: hosts
                .into_iter()
                .map(|h| (h, HostMonitor::default()))
                .collect(),
            stats: OutlierStats::default(),
            random: SplitMix64(seed),
        }
    }

    /// Makes the watched set `hosts`: new hosts start clean, removed hosts are forgotten
    /// (and no longer count as ejected).
    pub fn set_hosts(&mut self, hosts: impl IntoIterator<Item = H>) {
        let mut old = std::mem::take(&mut self.hosts);
        self.hosts = hosts
            .into_iter()
            .map(|h| {
                let monitor = old.remove(&h).unwrap_or_default();
                (h, monitor)
            })
            .collect();
        self.stats.ejections_active = self.hosts.values().filter(|m| m.ejected).count() as u64;
    }

    /// Records one result for `host` at `now`; returns why, if this ejected the host.
    /// Unknown hosts are ignored.
    pub fn put_result(
        &mut self,
        host: &H,
        result: UpstreamResult,
        now: Duration,
    ) -> Option<EjectionType> {
        let status = result.http_status()?;
        let monitor = self.hosts.get_mut(host)?;
        let mut detected = Vec::new();
        if (500..600).contains(&status) {
            if matches!(status, 502..=504) {
                monitor.consecutive_gateway_failure += 1;
                if monitor.consecutive_gateway_failure == self.config.consecutive_gateway_failure {
                    detected.push(EjectionType::ConsecutiveGatewayFailure);
                }
            } else {
                monitor.consecutive_gateway_failure = 0;
            }
            monitor.consecutive_5xx += 1;
            if monitor.consecutive_5xx == self.config.consecutive_5xx {
                detected.push(EjectionType::Consecutive5xx);
            }
        } else {
            monitor.consecutive_5xx = 0;
            monitor.consecutive_gateway_failure = 0;
        }
        let mut ejected = None;
        for kind in detected {
            if self.on_consecutive_error(host, kind, now) {
                ejected = Some(kind);
            }
        }
        ejected
    }

    /// Envoy's `onConsecutiveErrorWorker`; true when the host was ejected.
    fn on_consecutive_error(&mut self, host: &H, kind: EjectionType, now: Duration) -> bool {
        if self.hosts.get(host).is_none_or(|m| m.ejected) {
            return false;
        }
        match kind {
            EjectionType::Consecutive5xx => self.stats.ejections_detected_consecutive_5xx += 1,
            EjectionType::ConsecutiveGatewayFailure => {
                self.stats.ejections_detected_consecutive_gateway_failure += 1;
            }
        }
        let ejected = self.eject_host(host, kind, now);
        if let Some(monitor) = self.hosts.get_mut(host) {
            // Reset so that a new bout of errors is detected even without a success between.
            match kind {
                EjectionType::Consecutive5xx => monitor.consecutive_5xx = 0,
                EjectionType::ConsecutiveGatewayFailure => monitor.consecutive_gateway_failure = 0,
            }
        }
        ejected
    }

    /// Envoy's `ejectHost`: the `max_ejection_percent` cap, enforcement and backoff.
    fn eject_host(&mut self, host: &H, kind: EjectionType, now: Duration) -> bool {
        let max_percent = f64::from(self.config.max_ejection_percent.min(100));
        let ejected_percent =
            100.0 * (self.stats.ejections_active + 1) as f64 / self.hosts.len() as f64;
        let should_eject = ejected_percent <= max_percent
            || (self.config.always_eject_one_host && self.stats.ejections_active == 0);
        if !should_eject {
            self.stats.ejections_overflow += 1;
            return false;
        }
        let enforcing = match kind {
            EjectionType::Consecutive5xx => self.config.enforcing_consecutive_5xx,
            EjectionType::ConsecutiveGatewayFailure => {
                self.config.enforcing_consecutive_gateway_failure
            }
        };
        if !self.feature_enabled(enforcing) {
            return false;
        }
        let jitter_ms = self.config.max_ejection_time_jitter.as_millis() as u64;
        let jitter = Duration::from_millis(match jitter_ms {
            0 => 0,
            max => self.random.random() % (max + 1),
        });
        let base = self.config.base_ejection_time;
        let max = self.config.max_ejection_time.max(base);
        let Some(monitor) = self.hosts.get_mut(host) else {
            return false;
        };
        monitor.ejected = true;
        monitor.num_ejections += 1;
        monitor.last_ejection_time = Some(now);
        monitor.jitter = jitter;
        if base * monitor.eject_time_backoff < max + base {
            monitor.eject_time_backoff += 1;
        }
        self.stats.ejections_active += 1;
        self.stats.ejections_enforced_total += 1;
        match kind {
            EjectionType::Consecutive5xx => self.stats.ejections_enforced_consecutive_5xx += 1,
            EjectionType::ConsecutiveGatewayFailure => {
                self.stats.ejections_enforced_consecutive_gateway_failure += 1;
            }
        }
        true
    }

    /// Envoy's runtime `featureEnabled(percent)`: `random % 100 < percent`.
    fn feature_enabled(&mut self, percent: u32) -> bool {
        match percent {
            0 => false,
            100.. => true,
            p => self.random.random() % 100 < u64::from(p),
        }
    }

    /// Envoy's `onIntervalTimer`: brings back hosts whose ejection time, `min(base ×
    /// backoff, max) + jitter`, has passed, and lets hosts that stayed in for a whole
    /// interval since their return work their backoff down by one. Returns the hosts
    /// brought back.
    pub fn on_interval(&mut self, now: Duration) -> Vec<H> {
        let base = self.config.base_ejection_time;
        let max = self.config.max_ejection_time.max(base);
        let mut unejected = Vec::new();
        for (host, monitor) in &mut self.hosts {
            let Some(ejected_at) = monitor.last_ejection_time.filter(|_| monitor.ejected) else {
                continue;
            };
            let ejection_time = (base * monitor.eject_time_backoff).min(max) + monitor.jitter;
            if ejection_time <= now.saturating_sub(ejected_at) {
                // Counters reset so a few new errors near the threshold do not re-eject.
                monitor.ejected = false;
                monitor.consecutive_5xx = 0;
                monitor.consecutive_gateway_failure = 0;
                monitor.last_unejection_time = Some(now);
                unejected.push(host.clone());
            }
        }
        self.stats.ejections_active -= unejected.len() as u64;
        for monitor in self.hosts.values_mut().filter(|m| !m.ejected) {
            let healthy_for_an_interval = monitor
                .last_unejection_time
                .is_some_and(|at| now.saturating_sub(at) >= self.config.interval);
            if healthy_for_an_interval {
                monitor.eject_time_backoff = monitor.eject_time_backoff.saturating_sub(1);
            }
        }
        unejected
    }

    /// Whether `host` is ejected now.
    pub fn is_ejected(&self, host: &H) -> bool {
        self.hosts.get(host).is_some_and(|m| m.ejected)
    }

    /// How many times `host` has been ejected (0 for unknown hosts).
    pub fn num_ejections(&self, host: &H) -> u32 {
        self.hosts.get(host).map_or(0, |m| m.num_ejections)
    }

    /// The detector's counters.
    pub fn stats(&self) -> OutlierStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;
