//! Counters the admin interface reports (`/stats`), named after Envoy's.

use std::sync::atomic::{AtomicU64, Ordering};

/// Envoy's response flags, for counters and access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFlag {
    /// No route configuration or no route matched.
    NoRoute,
    /// No healthy upstream host.
    NoHealthyUpstream,
    /// Upstream connection failure.
    UpstreamConnectionFailure,
    /// Upstream request timeout.
    UpstreamRequestTimeout,
    /// The route's cluster does not exist.
    NoClusterFound,
    /// Upstream connection reset or protocol error.
    UpstreamConnectionTermination,
}

impl ResponseFlag {
    /// The short name of Envoy's access log (`%RESPONSE_FLAGS%`).
    pub fn short(self) -> &'static str {
        match self {
            ResponseFlag::NoRoute => "NR",
            ResponseFlag::NoHealthyUpstream => "UH",
            ResponseFlag::UpstreamConnectionFailure => "UF",
            ResponseFlag::UpstreamRequestTimeout => "UT",
            ResponseFlag::NoClusterFound => "NC",
            ResponseFlag::UpstreamConnectionTermination => "UC",
        }
    }
}

/// Process-wide counters.
#[derive(Debug, Default)]
pub struct Stats {
    downstream_rq_total: AtomicU64,
    downstream_rq_xx: [AtomicU64; 5],
    upstream_rq_retry: AtomicU64,
    flags: [AtomicU64; 6],
    xds_ack: AtomicU64,
    xds_nack: AtomicU64,
}

const FLAGS: [ResponseFlag; 6] = [
    ResponseFlag::NoRoute,
    ResponseFlag::NoHealthyUpstream,
    ResponseFlag::UpstreamConnectionFailure,
    ResponseFlag::UpstreamRequestTimeout,
    ResponseFlag::NoClusterFound,
    ResponseFlag::UpstreamConnectionTermination,
];

impl Stats {
    pub fn request(&self, status: u16, flag: Option<ResponseFlag>) {
        self.downstream_rq_total.fetch_add(1, Ordering::Relaxed);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.downstream_rq_xx[class].fetch_add(1, Ordering::Relaxed);
        if let Some(i) = flag.and_then(|flag| FLAGS.iter().position(|f| *f == flag)) {
            self.flags[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn retry(&self) {
        self.upstream_rq_retry.fetch_add(1, Ordering::Relaxed);
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
        let mut lines = vec![
            format!("control_plane.xds_ack: {}", get(&self.xds_ack)),
            format!("control_plane.xds_nack: {}", get(&self.xds_nack)),
            format!(
                "http.downstream_rq_total: {}",
                get(&self.downstream_rq_total)
            ),
            format!(
                "cluster_manager.upstream_rq_retry: {}",
                get(&self.upstream_rq_retry)
            ),
        ];
        for (i, c) in self.downstream_rq_xx.iter().enumerate() {
            lines.push(format!("http.downstream_rq_{}xx: {}", i + 1, get(c)));
        }
        for (flag, c) in FLAGS.iter().zip(&self.flags) {
            lines.push(format!("http.response_flag.{}: {}", flag.short(), get(c)));
        }
        lines.sort();
        lines.join("\n") + "\n"
    }
}
