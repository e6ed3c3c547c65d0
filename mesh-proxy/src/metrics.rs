//! Prometheus exposition (`/stats/prometheus`, port 15090) of [`crate::stats`], with
//! Envoy's metric names and tags, so that Istio's dashboards and scrape configs work:
//! `envoy_cluster_upstream_rq_total{envoy_cluster_name=…}`,
//! `envoy_http_downstream_rq_xx{envoy_response_code_class="2",…}`, histograms with
//! Envoy's default buckets.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stats::{RequestStats, Stats};

/// Envoy's default histogram bucket bounds, in milliseconds.
pub const BUCKETS_MS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A latency histogram with [`BUCKETS_MS`]: one atomic add per bucket, count and sum,
/// so that recording takes no lock.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Per-bucket (not cumulative) counts; the last one is above every bound.
    buckets: [AtomicU64; BUCKETS_MS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn record(&self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = BUCKETS_MS.partition_point(|bound| *bound < ms);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Cumulative counts per bound (`le`), then `+Inf`; the sum in milliseconds.
    fn cumulative(&self) -> (Vec<u64>, f64) {
        let mut total = 0;
        let counts = self
            .buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1000.0;
        (counts, sum)
    }
}

/// Every metric of `stats` in the Prometheus text format (version 0.0.4).
pub fn render(stats: &Stats) -> String {
    let mut out = Families::default();
    let http: Vec<(String, _)> = stats
        .http_stats()
        .into_iter()
        .map(|(prefix, s)| {
            (
                format!("envoy_http_conn_manager_prefix=\"{}\"", escape(&prefix)),
                s,
            )
        })
        .collect();
    requests(&mut out, "envoy_http_downstream_rq", &http);
    let clusters: Vec<(String, _)> = stats
        .cluster_stats()
        .into_iter()
        .map(|(name, s)| (format!("envoy_cluster_name=\"{}\"", escape(&name)), s))
        .collect();
    requests(&mut out, "envoy_cluster_upstream_rq", &clusters);
    for (name, value) in stats.globals() {
        // `control_plane.xds_ack` → `envoy_control_plane_xds_ack`, as Envoy names them.
        let name = format!("envoy_{}", name.replace('.', "_"));
        out.declare(&name, "counter");
        out.sample(&name, "", value);
    }
    out.declare("envoy_http_response_flag", "counter");
    for (flag, value) in stats.response_flags() {
        let labels = format!("envoy_response_flag=\"{flag}\"");
        out.sample("envoy_http_response_flag", &labels, value);
    }
    out.text
}

/// `<name>_total`, `<name>_xx` and the `<name>_time` histogram of every entity
/// (labels, stats), one family after the other.
fn requests(out: &mut Families, name: &str, entities: &[(String, Arc<RequestStats>)]) {
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let total = format!("{name}_total");
    out.declare(&total, "counter");
    for (labels, s) in entities {
        out.sample(&total, labels, get(&s.rq_total));
    }
    let xx = format!("{name}_xx");
    out.declare(&xx, "counter");
    for (labels, s) in entities {
        for (i, c) in s.rq_xx.iter().enumerate() {
            let labels = format!("envoy_response_code_class=\"{}\",{labels}", i + 1);
            out.sample(&xx, &labels, get(c));
        }
    }
    let time = format!("{name}_time");
    out.declare(&time, "histogram");
    for (labels, s) in entities {
        out.histogram(&time, labels, &s.rq_time);
    }
}

/// The text being written: a family is declared (`# TYPE`) once, then all its
/// samples follow, as the format requires.
#[derive(Debug, Default)]
struct Families {
    text: String,
}

impl Families {
    fn declare(&mut self, name: &str, kind: &str) {
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: u64) {
        let _ = match labels {
            "" => writeln!(self.text, "{name} {value}"),
            _ => writeln!(self.text, "{name}{{{labels}}} {value}"),
        };
    }

    fn histogram(&mut self, name: &str, labels: &str, h: &Histogram) {
        let (counts, sum) = h.cumulative();
        let bounds = BUCKETS_MS.iter().map(|b| b.to_string());
        for (le, count) in bounds.chain(["+Inf".to_string()]).zip(&counts) {
            let _ = writeln!(self.text, "{name}_bucket{{{labels},le=\"{le}\"}} {count}");
        }
        let count = counts.last().copied().unwrap_or(0);
        let _ = writeln!(self.text, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(self.text, "{name}_count{{{labels}}} {count}");
    }
}

/// A label value: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests;
