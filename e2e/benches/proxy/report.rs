//! The results: one table row per (proxy, path), mesh-proxy/Envoy ratios per path
//! against the targets of issue 4, and the same as JSON for later comparison.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use serde::Serialize;

use crate::load::{LoadSettings, PathFigures};
use crate::sidecar::ProxyKind;

/// The way a request goes from client to server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PathKind {
    /// Client to server pod IP, no proxy, no rules.
    Direct,
    /// Client, its outbound sidecar, server (no sidecar there).
    OneHop,
    /// Client, outbound sidecar, inbound sidecar, server.
    TwoHop,
    /// Two-hop with mTLS between the sidecars, connections kept alive.
    TwoHopMtls,
    /// Two-hop mTLS with a new sidecar-to-sidecar connection (a full handshake) per
    /// request.
    NewConnectionsMtls,
}

/// One measured (proxy, path).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PathResult {
    /// `None` for the direct path.
    pub(crate) proxy: Option<&'static str>,
    pub(crate) path: PathKind,
    /// p99 minus the direct path's p99.
    pub(crate) added_p99_ms: Option<f64>,
    #[serde(flatten)]
    pub(crate) figures: PathFigures,
}

/// mesh-proxy against Envoy on one path.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Comparison {
    pub(crate) path: PathKind,
    pub(crate) targets: Vec<Target>,
}

/// A figure and its target; `met` is `None` when the figure could not be computed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Target {
    pub(crate) what: &'static str,
    pub(crate) value: Option<f64>,
    pub(crate) target: &'static str,
    pub(crate) met: Option<bool>,
}

/// Everything the run found, as written to `target/bench/proxy.json`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) date: String,
    pub(crate) load_average_before: String,
    pub(crate) load_average_after: String,
    pub(crate) cores: usize,
    /// Worker threads of each proxy (`--concurrency` of Envoy and of mesh-proxy).
    pub(crate) concurrency: usize,
    pub(crate) load: LoadSettings,
    pub(crate) results: Vec<PathResult>,
    pub(crate) comparisons: Vec<Comparison>,
}

impl PathKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PathKind::Direct => "direct",
            PathKind::OneHop => "one-hop",
            PathKind::TwoHop => "two-hop",
            PathKind::TwoHopMtls => "two-hop-mtls",
            PathKind::NewConnectionsMtls => "mtls-new-conn",
        }
    }
}

impl PathResult {
    pub(crate) fn new(proxy: Option<ProxyKind>, path: PathKind, figures: PathFigures) -> Self {
        Self {
            proxy: proxy.map(ProxyKind::name),
            path,
            added_p99_ms: None,
            figures,
        }
    }
}

/// Fills in the added p99 of every row and the comparisons.
pub(crate) fn complete(results: &mut [PathResult]) -> Vec<Comparison> {
    let direct_p99 = results
        .iter()
        .find(|r| r.path == PathKind::Direct)
        .map(|r| r.figures.fixed_rate.p99_ms);
    for r in results.iter_mut().filter(|r| r.path != PathKind::Direct) {
        r.added_p99_ms = direct_p99.map(|d| r.figures.fixed_rate.p99_ms - d);
    }
    [
        PathKind::OneHop,
        PathKind::TwoHop,
        PathKind::TwoHopMtls,
        PathKind::NewConnectionsMtls,
    ]
    .into_iter()
    .filter_map(|path| {
        let find = |kind: ProxyKind| {
            results
                .iter()
                .find(|r| r.path == path && r.proxy == Some(kind.name()))
        };
        let (mesh, envoy) = (find(ProxyKind::MeshProxy)?, find(ProxyKind::Envoy)?);
        Some(compare(path, mesh, envoy))
    })
    .collect()
}

fn compare(path: PathKind, mesh: &PathResult, envoy: &PathResult) -> Comparison {
    // A ratio of an added latency at or below zero (noise) means nothing.
    let ratio = |m: Option<f64>, e: Option<f64>| match (m, e) {
        (Some(m), Some(e)) if e > 0.0 => Some(m / e),
        _ => None,
    };
    let added = ratio(mesh.added_p99_ms, envoy.added_p99_ms);
    let cpu = ratio(mesh.figures.cpu_ms_per_1k, envoy.figures.cpu_ms_per_1k);
    let throughput = ratio(
        Some(mesh.figures.max_rate.req_per_sec),
        Some(envoy.figures.max_rate.req_per_sec),
    );
    let rss_ratio = ratio(mesh.figures.rss_max_mib, envoy.figures.rss_max_mib);
    let rss = mesh.figures.rss_max_mib;
    match path {
        // Issue 10's targets.
        PathKind::TwoHopMtls => {
            return Comparison {
                path,
                targets: vec![
                    target("added p99, mesh-proxy/envoy", added, "<= 0.4", |v| v <= 0.4),
                    target("CPU per request, mesh-proxy/envoy", cpu, "<= 0.4", |v| {
                        v <= 0.4
                    }),
                    target("max req/s, mesh-proxy/envoy", throughput, ">= 2", |v| {
                        v >= 2.0
                    }),
                    target("RSS, mesh-proxy/envoy", rss_ratio, "-", |_| true),
                    target("RSS of mesh-proxy, MiB", rss, "<= 12", |v| v <= 12.0),
                ],
            };
        }
        PathKind::NewConnectionsMtls => {
            return Comparison {
                path,
                targets: vec![
                    target(
                        "handshakes/s, mesh-proxy/envoy",
                        throughput,
                        ">= 1.5",
                        |v| v >= 1.5,
                    ),
                    target("CPU per handshake, mesh-proxy/envoy", cpu, "-", |_| true),
                    target("added p99, mesh-proxy/envoy", added, "-", |_| true),
                ],
            };
        }
        _ => {}
    }
    Comparison {
        path,
        targets: vec![
            target("added p99, mesh-proxy/envoy", added, "<= 0.5", |v| v <= 0.5),
            target("CPU per request, mesh-proxy/envoy", cpu, "<= 0.5", |v| {
                v <= 0.5
            }),
            target("max req/s, mesh-proxy/envoy", throughput, ">= 1.5", |v| {
                v >= 1.5
            }),
            target("RSS, mesh-proxy/envoy", rss_ratio, "-", |_| true),
            target("RSS of mesh-proxy, MiB", rss, "< 15", |v| v < 15.0),
        ],
    }
}

fn target(
    what: &'static str,
    value: Option<f64>,
    goal: &'static str,
    check: impl Fn(f64) -> bool,
) -> Target {
    Target {
        what,
        value,
        target: goal,
        met: if goal == "-" { None } else { value.map(check) },
    }
}

/// The table and the comparisons, as printed at the end of the run.
pub(crate) fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nproxy bench, {} ({} cores, concurrency {}; load average before {}, after {})",
        report.date,
        report.cores,
        report.concurrency,
        report.load_average_before,
        report.load_average_after
    );
    let _ = writeln!(
        out,
        "latency: POST {} B at {} req/s over {} connections, latency-corrected, {} s; \
         max req/s: same requests unthrottled, {} s\n",
        report.load.body_bytes,
        report.load.rate,
        report.load.connections,
        report.load.latency.as_secs_f64(),
        report.load.throughput.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "{:<11} {:<13} {:>7} {:>7} {:>7} {:>7} {:>7} {:>10} {:>8} {:>10} {:>7}",
        "proxy",
        "path",
        "p50 ms",
        "p90",
        "p99",
        "p99.9",
        "+p99",
        "max req/s",
        "RSS MiB",
        "CPU ms/1k",
        "errors"
    );
    for r in &report.results {
        let f = &r.figures;
        let _ = writeln!(
            out,
            "{:<11} {:<13} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7} {:>10.0} {:>8} {:>10} {:>7}",
            r.proxy.unwrap_or("-"),
            r.path.name(),
            f.fixed_rate.p50_ms,
            f.fixed_rate.p90_ms,
            f.fixed_rate.p99_ms,
            f.fixed_rate.p999_ms,
            opt(r.added_p99_ms, 3),
            f.max_rate.req_per_sec,
            opt(f.rss_max_mib, 1),
            opt(f.cpu_ms_per_1k, 1),
            f.fixed_rate.errors + f.max_rate.errors,
        );
    }
    for c in &report.comparisons {
        let _ = writeln!(out, "\n{}:", c.path.name());
        for t in &c.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "",
            };
            let _ = writeln!(
                out,
                "  {:<36} {:>7}   target {:<7} {verdict}",
                t.what,
                opt(t.value, 2),
                t.target
            );
        }
    }
    out
}

/// Writes the report as pretty JSON to `path`, creating its directory.
pub(crate) fn write_json(report: &Report, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    fs::write(path, json + "\n").map_err(|e| format!("write {}: {e}", path.display()))
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}
