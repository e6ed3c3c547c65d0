//! What the demo prints about a run of requests: which reviews version answered, in
//! what share against what was expected, failed calls along the chain, statuses and
//! latency. Pure functions over the client's [`Summary`].

use std::collections::BTreeMap;
use std::fmt::Write;

use mesh_sample_app::Summary;

use crate::tolerance::binomial_bounds;

/// Standard deviations of the tolerance shown next to an expected share: a correct
/// split lands inside about 997 times in 1,000.
const SIGMAS: f64 = 3.0;

/// Answers per version of `service` along the call chains (`frontend/v1 -> reviews/v2
/// -> ratings/v1` counts for reviews v2).
pub fn versions_of(summary: &Summary, service: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{service}/");
    let mut versions = BTreeMap::new();
    for (chain, n) in &summary.chains {
        let hop = chain
            .split(" -> ")
            .map(|h| h.trim_start_matches('['))
            .find_map(|h| h.strip_prefix(&prefix));
        if let Some(version) = hop.and_then(|v| v.split([' ', ',', ']']).next()) {
            *versions.entry(version.to_string()).or_default() += n;
        }
    }
    versions
}

/// Answers whose chain has a failed hop (`ratings/v1 500`, `http://ratings:9080 error`):
/// the page came back, with a part missing.
pub fn failed_calls(summary: &Summary) -> u64 {
    summary
        .chains
        .iter()
        .filter(|(chain, _)| chain.split(" -> ").skip(1).any(hop_failed))
        .map(|(_, n)| n)
        .sum()
}

fn hop_failed(hop: &str) -> bool {
    hop.split(", ").any(|part| {
        let last = part.trim_end_matches(']').rsplit(' ').next().unwrap_or("");
        last == "error" || (last.len() == 3 && last.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The table of one run: a row per version of `service` with its share and, when
/// `expected` names it, the expected share with its tolerance and whether it holds;
/// then statuses, failed calls and latency.
pub fn table(summary: &Summary, service: &str, expected: &[(&str, f64)]) -> String {
    let versions = versions_of(summary, service);
    let total: u64 = versions.values().sum();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "    {service:<10} {:>8} {:>8}   expected",
        "answers", "share"
    );
    let mut names: Vec<&str> = versions.keys().map(String::as_str).collect();
    for (v, _) in expected {
        if !names.contains(v) {
            names.push(v);
        }
    }
    names.sort_unstable();
    for name in names {
        let n = versions.get(name).copied().unwrap_or(0);
        let share = percent(n, total);
        let expectation = expected
            .iter()
            .find(|(v, _)| *v == name)
            .map_or_else(String::new, |(_, p)| expectation(n, total, *p));
        let _ = writeln!(out, "    {name:<10} {n:>8} {share:>7.1}%   {expectation}");
    }
    let statuses: Vec<String> = summary
        .statuses
        .iter()
        .map(|(s, n)| format!("{s} ×{n}"))
        .collect();
    let l = summary.latency_ms;
    let _ = writeln!(
        out,
        "    {} requests: {}  ·  failed calls inside: {}  ·  latency p50 {:.1} ms, p99 {:.1} ms",
        summary.requests,
        statuses.join(", "),
        failed_calls(summary),
        l.p50,
        l.p99
    );
    for error in &summary.errors {
        let _ = writeln!(out, "    error: {error}");
    }
    out
}

/// `80% ± 8.5%  ✓` (or `✗` when outside the tolerance).
fn expectation(n: u64, total: u64, p: f64) -> String {
    let (lo, hi) = binomial_bounds(total, p, SIGMAS);
    #[allow(clippy::cast_precision_loss)]
    let within = (lo..=hi).contains(&(n as f64));
    #[allow(clippy::cast_precision_loss)]
    let tolerance = if total == 0 {
        0.0
    } else {
        (hi - lo) / 2.0 / total as f64 * 100.0
    };
    let mark = if within { "✓" } else { "✗" };
    if tolerance < 0.05 {
        format!("{:.0}%  {mark}", p * 100.0)
    } else {
        format!("{:.0}% ± {tolerance:.1}%  {mark}", p * 100.0)
    }
}

#[allow(clippy::cast_precision_loss)]
fn percent(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 * 100.0 / total as f64
    }
}

/// `yaml` without its common indentation and blank edges, indented for the transcript.
pub fn indented_yaml(yaml: &str) -> String {
    crate::control_plane::dedent(yaml)
        .trim()
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(chains: &[(&str, u64)]) -> Summary {
        let mut s = Summary {
            requests: chains.iter().map(|(_, n)| n).sum(),
            ..Summary::default()
        };
        s.statuses.insert("200".into(), s.requests);
        for (c, n) in chains {
            s.chains.insert((*c).to_string(), *n);
        }
        s
    }

    #[test]
    fn versions_are_read_from_the_chain_not_the_first_hop() {
        let s = summary(&[
            ("frontend/v1 -> reviews/v1", 160),
            ("frontend/v1 -> reviews/v3 -> ratings/v1", 30),
            ("frontend/v1 -> reviews/v3 -> ratings/v1 500", 10),
        ]);
        let versions = versions_of(&s, "reviews");
        assert_eq!(versions.get("v1"), Some(&160));
        assert_eq!(versions.get("v3"), Some(&40));
        assert_eq!(failed_calls(&s), 10);
    }

    #[test]
    fn failed_hops_are_statuses_or_errors_never_versions() {
        assert!(hop_failed("ratings/v1 500"));
        assert!(hop_failed("http://ratings:9080 error"));
        assert!(hop_failed("[ratings/v1, http://details:9080 503]"));
        assert!(!hop_failed("reviews/v2"));
        assert!(!hop_failed("[ratings/v1, details/v1]"));
    }

    #[test]
    fn table_marks_an_80_20_split_within_tolerance() {
        let s = summary(&[
            ("frontend/v1 -> reviews/v1", 161),
            ("frontend/v1 -> reviews/v3 -> ratings/v1", 39),
        ]);
        let text = table(&s, "reviews", &[("v1", 0.8), ("v3", 0.2)]);
        assert!(text.contains("80.5%   80% ± 8.5%  ✓"), "{text}");
        assert!(text.contains("200 ×200"), "{text}");
        let wrong = table(&s, "reviews", &[("v1", 0.5), ("v3", 0.5)]);
        assert!(wrong.contains('✗'), "{wrong}");
    }
}
