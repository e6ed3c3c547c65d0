//! Load balancing over a cluster's endpoints, as Envoy does it.
//!
//! Pure and deterministic: no clock, no global random generator. Randomness comes from a
//! caller-supplied [`RandomGenerator`]; request hashes from [`hash_policy`].
//!
//! # API
//!
//! - [`Endpoint`] `{ address, weight, health, active_requests }`: one upstream host. The
//!   address is Envoy's `address()->asString()` (`"10.0.0.1:8080"`, `"[::1]:80"`): it is the
//!   ring-hash and maglev key, so it must be spelled the same as Envoy spells it.
//! - [`LbPolicy`]: `RoundRobin`, `LeastRequest { choice_count }`, `Random`,
//!   `RingHash { minimum_ring_size, maximum_ring_size }`, `Maglev { table_size }`; the
//!   `default_*` constructors carry Envoy's defaults.
//! - [`LbConfig`] `{ policy, healthy_panic_threshold, seed }` (`Default`: round robin, 50 %).
//! - [`LoadBalancer::new(config, endpoints)`](LoadBalancer::new) builds the per-worker
//!   balancer (ring, table, schedulers). Rebuild it with [`LoadBalancer::update`] whenever EDS,
//!   health checks or outlier ejections change the endpoints (Envoy rebuilds too);
//!   `update` keeps the round-robin position.
//! - [`LoadBalancer::choose_host(hash, random)`](LoadBalancer::choose_host) returns the index
//!   into the endpoints of the host to use, or `None` when there is none: the caller
//!   answers 503 with response flag `UH`. `hash` is the request hash (ring hash and maglev
//!   only; `None` picks a random point, as Envoy does when no hash policy matched).
//! - [`LoadBalancer::set_active_requests(index, n)`](LoadBalancer::set_active_requests) feeds
//!   least request its load signal (Envoy's `rq_active`).
//! - [`LoadBalancer::in_panic`]: whether healthy-panic routing is in force.
//!
//! # Healthy panic
//!
//! Envoy's `isHostSetInPanic`: when `100 × healthy / hosts` is below the threshold (50 by
//! default), every host is a candidate, healthy or not, so a cluster whose hosts are all
//! unhealthy still routes. Only an empty cluster yields `None`, or, with the threshold at 0
//! (what Istio sets when a DestinationRule has `outlierDetection` without
//! `minHealthPercent`), a cluster without a healthy host.

use std::fmt;

mod edf;
pub mod hash_policy;
mod maglev;
mod ring_hash;
mod xxhash;

pub use hash_policy::{HashPolicy, HashPolicyKind, RequestAttributes, generate_hash};
pub use xxhash::xxh64;

use edf::EdfScheduler;
use maglev::MaglevTable;
use ring_hash::Ring;

/// One upstream host as the balancer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Envoy's `address()->asString()`, e.g. `10.0.0.1:8080`: the consistent-hash key.
    pub address: String,
    /// Load-balancing weight (EDS `load_balancing_weight`; 0 is read as 1, as EDS forbids 0).
    pub weight: u32,
    /// Health as health checks and outlier detection report it.
    pub health: Health,
    /// Requests in flight to this host (Envoy's `upstream_rq_active`).
    pub active_requests: u64,
}

/// Whether a host may receive traffic outside healthy panic.
///
/// Map EDS `HEALTHY`/`UNKNOWN` to `Healthy` and `UNHEALTHY`/`DRAINING`/`TIMEOUT` (and
/// outlier-ejected hosts) to `Unhealthy`. Envoy's `DEGRADED` tier is not modelled: treat it
/// as `Unhealthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    /// Eligible for traffic.
    #[default]
    Healthy,
    /// Used only in healthy panic.
    Unhealthy,
}

/// Envoy's `Cluster.lb_policy` with its per-policy config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbPolicy {
    /// `ROUND_ROBIN`: rotation when weights are equal, EDF otherwise.
    RoundRobin,
    /// `LEAST_REQUEST`: power of `choice_count` choices (default 2) when weights are equal,
    /// EDF over `weight / (active + 1)` otherwise.
    LeastRequest {
        /// Hosts sampled per pick (Envoy's `choice_count`, default 2).
        choice_count: u32,
    },
    /// `RANDOM`: uniform over the candidate hosts; Envoy ignores weights here.
    Random,
    /// `RING_HASH` with xxHash64.
    RingHash {
        /// Envoy default 1024.
        minimum_ring_size: u64,
        /// Envoy default 8,388,608.
        maximum_ring_size: u64,
    },
    /// `MAGLEV`.
    Maglev {
        /// Envoy default 65537; must be prime.
        table_size: u64,
    },
}

/// How a [`LoadBalancer`] is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbConfig {
    /// The policy.
    pub policy: LbPolicy,
    /// Envoy's `common_lb_config.healthy_panic_threshold` in percent (default 50; 0 disables).
    pub healthy_panic_threshold: f64,
    /// Envoy's per-balancer random `seed_`: where the equal-weight rotation starts and how
    /// many picks the EDF schedulers are advanced by (low 32 bits). 0 starts at the first.
    pub seed: u64,
}

/// Source of random numbers (Envoy's `Random::RandomGenerator::random()`).
pub trait RandomGenerator {
    /// The next uniformly distributed 64-bit value.
    fn random(&mut self) -> u64;
}

/// A small deterministic generator (SplitMix64) for workers and tests.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

/// The balancer of one cluster on one worker.
pub struct LoadBalancer {
    config: LbConfig,
    endpoints: Vec<Endpoint>,
    /// Indices of the hosts eligible now: the healthy ones, or all of them in panic.
    candidates: Vec<usize>,
    in_panic: bool,
    weights_equal: bool,
    rr_index: u64,
    picker: Picker,
}

enum Picker {
    Rotation,
    Edf(EdfScheduler),
    Ring(Ring),
    Maglev(MaglevTable),
}

impl LbPolicy {
    /// Least request with Envoy's default `choice_count` of 2.
    pub const fn default_least_request() -> Self {
        Self::LeastRequest { choice_count: 2 }
    }

    /// Ring hash with Envoy's default sizes (1024 to 8M).
    pub const fn default_ring_hash() -> Self {
        Self::RingHash {
            minimum_ring_size: 1024,
            maximum_ring_size: 8 * 1024 * 1024,
        }
    }

    /// Maglev with Envoy's default table size, 65537.
    pub const fn default_maglev() -> Self {
        Self::Maglev { table_size: 65537 }
    }
}

impl Default for LbConfig {
    fn default() -> Self {
        Self {
            policy: LbPolicy::RoundRobin,
            healthy_panic_threshold: 50.0,
            seed: 0,
        }
    }
}

impl RandomGenerator for SplitMix64 {
    fn random(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl<F: FnMut() -> u64> RandomGenerator for F {
    fn random(&mut self) -> u64 {
        self()
    }
}

impl LoadBalancer {
    /// Builds the balancer for `endpoints` (order matters: it is Envoy's host order).
    pub fn new(config: LbConfig, endpoints: Vec<Endpoint>) -> Self {
        let mut lb = Self {
            config,
            endpoints: Vec::new(),
            candidates: Vec::new(),
            in_panic: false,
            weights_equal: true,
            rr_index: config.seed,
            picker: Picker::Rotation,
        };
        lb.update(endpoints);
        lb
    }

    /// Replaces the endpoints (EDS, health or ejection change) and rebuilds the ring, table
    /// or scheduler, keeping the round-robin position.
    pub fn update(&mut self, endpoints: Vec<Endpoint>) {
        let healthy: Vec<usize> = (0..endpoints.len())
            .filter(|&i| endpoints[i].health == Health::Healthy)
            .collect();
        let healthy_percent = if endpoints.is_empty() {
            0.0
        } else {
            100.0 * healthy.len() as f64 / endpoints.len() as f64
        };
        self.in_panic = healthy_percent < self.config.healthy_panic_threshold.min(100.0);
        self.candidates = if self.in_panic {
            (0..endpoints.len()).collect()
        } else {
            healthy
        };
        self.endpoints = endpoints;
        let first = self.candidates.first().map(|&i| self.weight(i));
        self.weights_equal = self
            .candidates
            .iter()
            .all(|&i| Some(self.weight(i)) == first);
        self.picker = self.build_picker();
    }

    fn build_picker(&self) -> Picker {
        let keyed = || -> Vec<(usize, &str, u32)> {
            self.candidates
                .iter()
                .map(|&i| (i, self.endpoints[i].address.as_str(), self.weight(i)))
                .collect()
        };
        match self.config.policy {
            LbPolicy::RingHash {
                minimum_ring_size,
                maximum_ring_size,
            } => Picker::Ring(Ring::new(&keyed(), minimum_ring_size, maximum_ring_size)),
            LbPolicy::Maglev { table_size } => {
                Picker::Maglev(MaglevTable::new(&keyed(), table_size))
            }
            LbPolicy::Random => Picker::Rotation,
            LbPolicy::RoundRobin | LbPolicy::LeastRequest { .. } if !self.weights_equal => {
                let entries: Vec<(usize, f64)> = self
                    .candidates
                    .iter()
                    .map(|&i| (i, self.edf_weight(i)))
                    .collect();
                // Envoy pre-picks `seed` times so that workers do not start in step.
                let scheduler = EdfScheduler::with_picks(
                    &entries,
                    |i| self.edf_weight(i),
                    self.config.seed as u32,
                );
                Picker::Edf(scheduler)
            }
            LbPolicy::RoundRobin | LbPolicy::LeastRequest { .. } => Picker::Rotation,
        }
    }

    /// The host to send the next request to, as an index into [`Self::endpoints`], or
    /// `None` when the cluster has no host to offer (503, `UH`).
    pub fn choose_host(
        &mut self,
        hash: Option<u64>,
        random: &mut dyn RandomGenerator,
    ) -> Option<usize> {
        if self.candidates.is_empty() {
            return None;
        }
        let count = self.candidates.len() as u64;
        match (&mut self.picker, self.config.policy) {
            (Picker::Ring(ring), _) => ring.lookup(hash.unwrap_or_else(|| random.random())),
            (Picker::Maglev(table), _) => table.lookup(hash.unwrap_or_else(|| random.random())),
            (Picker::Edf(scheduler), _) => {
                let (endpoints, policy) = (&self.endpoints, self.config.policy);
                scheduler.pick_and_add(|i| edf_weight(policy, &endpoints[i]))
            }
            (Picker::Rotation, LbPolicy::Random) => {
                Some(self.candidates[(random.random() % count) as usize])
            }
            (Picker::Rotation, LbPolicy::LeastRequest { choice_count }) => {
                // Power of `choice_count` choices; a tie keeps the earlier sample.
                let mut chosen: Option<usize> = None;
                for _ in 0..choice_count.max(1) {
                    let sampled = self.candidates[(random.random() % count) as usize];
                    chosen = match chosen {
                        Some(c)
                            if self.endpoints[sampled].active_requests
                                >= self.endpoints[c].active_requests =>
                        {
                            Some(c)
                        }
                        _ => Some(sampled),
                    };
                }
                chosen
            }
            (Picker::Rotation, _) => {
                let pick = self.candidates[(self.rr_index % count) as usize];
                self.rr_index = self.rr_index.wrapping_add(1);
                Some(pick)
            }
        }
    }

    /// Records the requests in flight to endpoint `index` (ignored when out of range).
    pub fn set_active_requests(&mut self, index: usize, active_requests: u64) {
        if let Some(endpoint) = self.endpoints.get_mut(index) {
            endpoint.active_requests = active_requests;
        }
    }

    /// The endpoints, in the order given; [`Self::choose_host`] indexes into this.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// Whether fewer hosts are healthy than the panic threshold, so all hosts are used.
    pub fn in_panic(&self) -> bool {
        self.in_panic
    }

    fn weight(&self, index: usize) -> u32 {
        self.endpoints[index].weight.max(1)
    }

    fn edf_weight(&self, index: usize) -> f64 {
        edf_weight(self.config.policy, &self.endpoints[index])
    }
}

/// Envoy's `hostWeight`: the weight for round robin; for least request
/// `weight / (active_requests + 1)` (the default `active_request_bias` of 1.0).
fn edf_weight(policy: LbPolicy, endpoint: &Endpoint) -> f64 {
    let weight = f64::from(endpoint.weight.max(1));
    match policy {
        LbPolicy::LeastRequest { .. } => weight / (endpoint.active_requests as f64 + 1.0),
        _ => weight,
    }
}

impl fmt::Debug for LoadBalancer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let picker = match &self.picker {
            Picker::Rotation => "rotation".to_owned(),
            Picker::Edf(_) => "edf".to_owned(),
            Picker::Ring(ring) => format!("ring of {}", ring.len()),
            Picker::Maglev(_) => "maglev".to_owned(),
        };
        f.debug_struct("LoadBalancer")
            .field("config", &self.config)
            .field("endpoints", &self.endpoints.len())
            .field("candidates", &self.candidates.len())
            .field("in_panic", &self.in_panic)
            .field("picker", &picker)
            .finish()
    }
}

#[cfg(test)]
mod tests;
