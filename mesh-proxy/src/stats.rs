//! Counters the admin interface reports (`/stats`, and `/stats/prometheus` through
//! [`crate::metrics`]), named after Envoy's. Recording takes no lock: atomic adds, and
//! the per-listener and per-cluster entries are found in a table whose slots are set
//! once (a lock is taken only to add a name once the table is full).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::metrics::Histogram;
use crate::stream_info::StreamInfo;

pub use crate::stream_info::ResponseFlag;

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    downstream_rq_total: AtomicU64,
    downstream_rq_xx: [AtomicU64; 5],
    upstream_rq_retry: AtomicU64,
    flags: [AtomicU64; FLAGS.len()],
    xds_ack: AtomicU64,
    xds_nack: AtomicU64,
    /// TLS handshakes, downstream (terminated here) and upstream (originated here),
    /// summed over listeners and clusters (Envoy keeps them per listener/cluster).
    ssl: [AtomicU64; 4],
    /// Per HTTP connection manager, by `stat_prefix` (Envoy's `http.<prefix>.*`).
    http: Registry,
    /// Per cluster, by name (Envoy's `cluster.<name>.*`).
    clusters: Registry,
}

/// Requests through one connection manager (downstream) or to one cluster (upstream).
#[derive(Debug, Default)]
pub struct RequestStats {
    pub rq_total: AtomicU64,
    /// By status class, 1xx to 5xx.
    pub rq_xx: [AtomicU64; 5],
    pub rq_time: Histogram,
}

/// One request to a cluster: counted when sent, its time and status class recorded
/// by [`UpstreamRequest::finish`] when the response headers arrive.
#[derive(Debug)]
pub struct UpstreamRequest {
    stats: Arc<RequestStats>,
    start: Instant,
}

/// Slots of a [`Registry`]: room for the clusters of a large mesh before the overflow
/// map (with its lock) is used.
const REGISTRY_SLOTS: usize = 4096;

type Entry = (Arc<str>, Arc<RequestStats>);

/// Stats by name, never removed (as Envoy's stay until the cluster is gone for good).
/// An open-addressing table of set-once slots: a lookup is a hash and atomic loads.
#[derive(Debug)]
struct Registry {
    slots: Box<[OnceLock<Entry>]>,
    overflow: RwLock<HashMap<Arc<str>, Arc<RequestStats>>>,
}

const FLAGS: [ResponseFlag; 9] = [
    ResponseFlag::NoRoute,
    ResponseFlag::NoHealthyUpstream,
    ResponseFlag::UpstreamConnectionFailure,
    ResponseFlag::UpstreamRequestTimeout,
    ResponseFlag::NoClusterFound,
    ResponseFlag::UpstreamConnectionTermination,
    ResponseFlag::FaultInjected,
    ResponseFlag::DelayInjected,
    ResponseFlag::UpstreamOverflow,
];

impl Stats {
    /// A completed downstream request of the connection manager `stat_prefix`: its
    /// status class, response flags and duration, as its record has them.
    pub fn request(&self, stat_prefix: &str, info: &StreamInfo) {
        let status = info.response_code.unwrap_or(0);
        self.downstream_rq_total.fetch_add(1, Ordering::Relaxed);
        self.downstream_rq_xx[class(status)].fetch_add(1, Ordering::Relaxed);
        for flag in info.response_flags.iter() {
            if let Some(i) = FLAGS.iter().position(|f| *f == flag) {
                self.flags[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.http.get(stat_prefix).record(status, info.duration());
    }

    /// A request about to be sent to `cluster` (each retry is one more).
    pub fn upstream_rq(&self, cluster: &str) -> UpstreamRequest {
        let stats = self.clusters.get(cluster);
        stats.rq_total.fetch_add(1, Ordering::Relaxed);
        UpstreamRequest {
            stats,
            start: Instant::now(),
        }
    }

    /// Per connection manager stats, sorted by stat prefix.
    pub fn http_stats(&self) -> Vec<(Arc<str>, Arc<RequestStats>)> {
        self.http.sorted()
    }

    /// Per cluster stats, sorted by cluster name.
    pub fn cluster_stats(&self) -> Vec<(Arc<str>, Arc<RequestStats>)> {
        self.clusters.sorted()
    }

    /// The process-wide counters without tags, by their `/stats` names.
    pub fn globals(&self) -> [(&'static str, u64); 7] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("listener.ssl.handshake", get(&self.ssl[0])),
            ("listener.ssl.connection_error", get(&self.ssl[1])),
            ("cluster.ssl.handshake", get(&self.ssl[2])),
            ("cluster.ssl.connection_error", get(&self.ssl[3])),
            (
                "cluster_manager.upstream_rq_retry",
                get(&self.upstream_rq_retry),
            ),
            ("control_plane.xds_ack", get(&self.xds_ack)),
            ("control_plane.xds_nack", get(&self.xds_nack)),
        ]
    }

    /// Requests by Envoy response flag (short name).
    pub fn response_flags(&self) -> Vec<(&'static str, u64)> {
        FLAGS
            .iter()
            .zip(&self.flags)
            .map(|(flag, c)| (flag.short(), c.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn retry(&self) {
        self.upstream_rq_retry.fetch_add(1, Ordering::Relaxed);
    }

    /// A downstream TLS handshake completed.
    pub fn ssl_handshake(&self) {
        self.ssl[0].fetch_add(1, Ordering::Relaxed);
    }

    /// A downstream TLS handshake failed (no or a bad client certificate, plaintext
    /// on a TLS chain, a timeout).
    pub fn ssl_connection_error(&self) {
        self.ssl[1].fetch_add(1, Ordering::Relaxed);
    }

    /// An upstream TLS handshake completed.
    pub fn upstream_ssl_handshake(&self) {
        self.ssl[2].fetch_add(1, Ordering::Relaxed);
    }

    /// An upstream TLS handshake failed (the server's certificate was refused).
    pub fn upstream_ssl_connection_error(&self) {
        self.ssl[3].fetch_add(1, Ordering::Relaxed);
    }

    pub fn xds_ack(&self) {
        self.xds_ack.fetch_add(1, Ordering::Relaxed);
    }

    pub fn xds_nack(&self) {
        self.xds_nack.fetch_add(1, Ordering::Relaxed);
    }

    /// `name: value` lines, sorted by name, as Envoy's `/stats`.
    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut lines: Vec<String> = self
            .globals()
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        lines.push(format!(
            "http.downstream_rq_total: {}",
            get(&self.downstream_rq_total)
        ));
        for (i, c) in self.downstream_rq_xx.iter().enumerate() {
            lines.push(format!("http.downstream_rq_{}xx: {}", i + 1, get(c)));
        }
        for (flag, c) in FLAGS.iter().zip(&self.flags) {
            lines.push(format!("http.response_flag.{}: {}", flag.short(), get(c)));
        }
        for (scope, registry, dir) in [
            ("http", &self.http, "downstream"),
            ("cluster", &self.clusters, "upstream"),
        ] {
            for (name, s) in registry.sorted() {
                let total = get(&s.rq_total);
                lines.push(format!("{scope}.{name}.{dir}_rq_total: {total}"));
                for (i, c) in s.rq_xx.iter().enumerate() {
                    lines.push(format!("{scope}.{name}.{dir}_rq_{}xx: {}", i + 1, get(c)));
                }
            }
        }
        lines.sort();
        lines.join("\n") + "\n"
    }
}

impl RequestStats {
    fn record(&self, status: u16, elapsed: Duration) {
        self.rq_total.fetch_add(1, Ordering::Relaxed);
        self.rq_xx[class(status)].fetch_add(1, Ordering::Relaxed);
        self.rq_time.record(elapsed);
    }
}

impl UpstreamRequest {
    /// The attempt ended: with the upstream's response status, or `None` (connect
    /// failure, reset, timeout), which Envoy gives no status class or time.
    pub fn finish(self, status: Option<u16>) {
        if let Some(status) = status {
            self.stats.rq_xx[class(status)].fetch_add(1, Ordering::Relaxed);
            self.stats.rq_time.record(self.start.elapsed());
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            slots: (0..REGISTRY_SLOTS).map(|_| OnceLock::new()).collect(),
            overflow: RwLock::default(),
        }
    }
}

impl Registry {
    /// The entry of `name`, created on first use.
    fn get(&self, name: &str) -> Arc<RequestStats> {
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let start = usize::try_from(hasher.hash_one(name)).unwrap_or(0) % self.slots.len();
        for i in 0..self.slots.len() {
            let slot = &self.slots[(start + i) % self.slots.len()];
            // Setting an empty slot races only with others setting that same slot.
            let (key, stats) = slot.get_or_init(|| (Arc::from(name), Arc::default()));
            if **key == *name {
                return stats.clone();
            }
        }
        let overflow = self.overflow.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = overflow.get(name) {
            return s.clone();
        }
        drop(overflow);
        let mut overflow = self
            .overflow
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        overflow.entry(Arc::from(name)).or_default().clone()
    }

    fn sorted(&self) -> Vec<Entry> {
        let mut all: Vec<Entry> = self.slots.iter().filter_map(|s| s.get().cloned()).collect();
        let overflow = self.overflow.read().unwrap_or_else(PoisonError::into_inner);
        all.extend(overflow.iter().map(|(k, v)| (k.clone(), v.clone())));
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// The index of a status's class: 0 for 1xx … 4 for 5xx (others clamped).
fn class(status: u16) -> usize {
    usize::from(status / 100).clamp(1, 5) - 1
}
