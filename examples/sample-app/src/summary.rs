//! What the client modes print: answers per workload version, per status and per call
//! chain, and latency percentiles. Also printed as JSON (`--json`), which the test
//! harness parses.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The outcome of a run of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// What was called (URL or address).
    pub target: String,
    pub requests: u64,
    /// Answers by status: HTTP status (`"200"`), gRPC status (`"grpc 14"`), or
    /// `"error"` when nothing came back.
    pub statuses: BTreeMap<String, u64>,
    /// Answers by the sample app that sent them (`name/version`); answers that did not
    /// come from a sample app (a proxy's own 503) are not counted here.
    pub workloads: BTreeMap<String, u64>,
    /// Answers by the versions along the whole call chain.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chains: BTreeMap<String, u64>,
    /// Up to five distinct reasons for requests without an answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub latency_ms: Latency,
    pub elapsed_ms: f64,
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// One request's outcome, as a client mode saw it.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// `None` when no answer arrived (see `error`).
    pub status: Option<String>,
    pub workload: Option<String>,
    pub chain: Option<String>,
    pub error: Option<String>,
    pub latency: Duration,
}

/// Collects outcomes into a [`Summary`].
#[derive(Debug, Default)]
pub struct Recorder {
    summary: Summary,
    latencies: Vec<Duration>,
}

impl Summary {
    /// Answers with status `status` (`"200"`, `"grpc 0"`, `"error"`).
    pub fn status_count(&self, status: &str) -> u64 {
        self.statuses.get(status).copied().unwrap_or(0)
    }

    /// Answers from workload `key` (`name/version`).
    pub fn workload_count(&self, key: &str) -> u64 {
        self.workloads.get(key).copied().unwrap_or(0)
    }

    /// Answers with a 2xx HTTP status or gRPC OK.
    pub fn successes(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| s.starts_with('2') || s.as_str() == "grpc 0")
            .map(|(_, n)| n)
            .sum()
    }
}

impl Recorder {
    pub fn new(target: &str) -> Recorder {
        Recorder {
            summary: Summary {
                target: target.to_string(),
                ..Summary::default()
            },
            latencies: Vec::new(),
        }
    }

    pub fn record(&mut self, outcome: Outcome) {
        let summary = &mut self.summary;
        summary.requests += 1;
        let status = outcome.status.unwrap_or_else(|| "error".to_string());
        *summary.statuses.entry(status).or_default() += 1;
        if let Some(workload) = outcome.workload {
            *summary.workloads.entry(workload).or_default() += 1;
        }
        if let Some(chain) = outcome.chain {
            *summary.chains.entry(chain).or_default() += 1;
        }
        if let Some(error) = outcome.error
            && summary.errors.len() < 5
            && !summary.errors.contains(&error)
        {
            summary.errors.push(error);
        }
        self.latencies.push(outcome.latency);
    }

    pub fn finish(mut self, elapsed: Duration) -> Summary {
        self.latencies.sort();
        let pick = |q: f64| percentile(&self.latencies, q);
        self.summary.latency_ms = Latency {
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            max: pick(1.0),
        };
        self.summary.elapsed_ms = millis(elapsed);
        self.summary
    }
}

/// Nearest-rank percentile of sorted `values`, in milliseconds.
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    millis(sorted[rank - 1])
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} requests to {} in {:.0} ms",
            self.requests, self.target, self.elapsed_ms
        )?;
        let line = |map: &BTreeMap<String, u64>| {
            map.iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        writeln!(f, "  status    {}", line(&self.statuses))?;
        writeln!(f, "  versions  {}", line(&self.workloads))?;
        for (chain, n) in &self.chains {
            writeln!(f, "  chain     {n:>5}  {chain}")?;
        }
        let l = self.latency_ms;
        writeln!(
            f,
            "  latency   p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            l.p50, l.p90, l.p99, l.max
        )?;
        for error in &self.errors {
            writeln!(f, "  error     {error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: &str, workload: &str, ms: u64) -> Outcome {
        Outcome {
            status: Some(status.to_string()),
            workload: Some(workload.to_string()),
            chain: Some(workload.to_string()),
            error: None,
            latency: Duration::from_millis(ms),
        }
    }

    #[test]
    fn counts_per_version_and_status_with_nearest_rank_percentiles() {
        let mut recorder = Recorder::new("http://reviews:9080/");
        for ms in 1..=100 {
            let version = if ms % 4 == 0 {
                "reviews/v2"
            } else {
                "reviews/v1"
            };
            recorder.record(outcome("200", version, ms));
        }
        recorder.record(Outcome {
            error: Some("connection refused".to_string()),
            latency: Duration::from_millis(1),
            ..Outcome::default()
        });
        let summary = recorder.finish(Duration::from_secs(1));
        assert_eq!(summary.requests, 101);
        assert_eq!(summary.workload_count("reviews/v1"), 75);
        assert_eq!(summary.workload_count("reviews/v2"), 25);
        assert_eq!(
            (summary.successes(), summary.status_count("error")),
            (100, 1)
        );
        assert_eq!(summary.latency_ms.p50, 50.0);
        assert_eq!(summary.latency_ms.p99, 99.0);
        assert_eq!(summary.latency_ms.max, 100.0);
        assert_eq!(summary.errors, ["connection refused"]);
        let text = summary.to_string();
        assert!(text.contains("reviews/v1: 75"), "{text}");
    }

    #[test]
    fn summary_round_trips_through_json() {
        let mut recorder = Recorder::new("x");
        recorder.record(outcome("grpc 0", "ratings/v1", 3));
        let summary = recorder.finish(Duration::from_millis(3));
        let json = serde_json::to_string(&summary).expect("serialize");
        assert_eq!(
            serde_json::from_str::<Summary>(&json).expect("parse"),
            summary
        );
        assert_eq!(summary.successes(), 1);
    }
}
