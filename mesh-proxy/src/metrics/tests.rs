//! The output is checked by a small parser of the Prometheus text format (0.0.4):
//! what a scraper would read, not how the lines look.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::stats::{ResponseFlag, Stats};
use crate::stream_info::StreamInfo;

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format strictly: every sample belongs to the family declared by
/// the latest `# TYPE` line (histograms: `_bucket`, `_sum`, `_count`), a family is
/// declared once, names and labels are well-formed, values are numbers.
fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    let mut declared: Vec<String> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: &str| format!("line {}: {e}: {line}", n + 1);
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| at("bad TYPE"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(at("unknown type"));
            }
            if declared.iter().any(|d| d == name) {
                return Err(at("family declared twice"));
            }
            declared.push(name.to_string());
            current = Some((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').ok_or_else(|| at("no value"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().map_err(|_| at("value is not a number"))?,
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .ok_or_else(|| at("unclosed labels"))?;
                (name, labels(body).map_err(|e| at(&e))?)
            }
        };
        if !valid_name(name) {
            return Err(at("bad metric name"));
        }
        let (family, kind) = current.as_ref().ok_or_else(|| at("sample before TYPE"))?;
        let belongs = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"]
                .iter()
                .any(|s| name.strip_suffix(s) == Some(family)),
            _ => name == family,
        };
        if !belongs {
            return Err(at(&format!("sample outside its family {family}")));
        }
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(samples)
}

fn labels(body: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
        if !valid_name(key) || key.contains(':') {
            return Err(format!("bad label name {key}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => return Err("bad escape".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        out.insert(key.to_string(), value);
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .collect()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    match find(samples, name, labels).as_slice() {
        [one] => one.value,
        other => panic!("{name} {labels:?}: expected one sample, found {other:?}"),
    }
}

fn busy_stats() -> Stats {
    let stats = Stats::default();
    let ms = Duration::from_millis;
    let completed = StreamInfo::completed_for_test;
    stats.request("outbound_0.0.0.0_8080", &completed(200, None, ms(3)));
    stats.request(
        "outbound_0.0.0.0_8080",
        &completed(503, Some(ResponseFlag::NoHealthyUpstream), ms(30)),
    );
    stats.request(
        "inbound_0.0.0.0_9080",
        &completed(404, Some(ResponseFlag::NoRoute), ms(0)),
    );
    let cluster = "outbound|8080|v1|web.demo.svc.cluster.local";
    stats.upstream_rq(cluster).finish(Some(200));
    stats.upstream_rq(cluster).finish(None);
    stats.upstream_rq("odd\"name\\").finish(Some(500));
    stats.xds_ack();
    stats
}

#[test]
fn output_parses_as_prometheus_text() {
    let text = render(&busy_stats());
    let samples = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(samples.len() > 50, "{text}");
}

#[test]
fn cluster_counters_carry_envoy_names_and_tags() {
    let samples = parse(&render(&busy_stats())).expect("parses");
    let web = (
        "envoy_cluster_name",
        "outbound|8080|v1|web.demo.svc.cluster.local",
    );
    assert_eq!(
        value(&samples, "envoy_cluster_upstream_rq_total", &[web]),
        2.0
    );
    let class = |c| [("envoy_response_code_class", c), web];
    assert_eq!(
        value(&samples, "envoy_cluster_upstream_rq_xx", &class("2")),
        1.0
    );
    assert_eq!(
        value(&samples, "envoy_cluster_upstream_rq_xx", &class("5")),
        0.0
    );
    // A failed attempt has no response time.
    assert_eq!(
        value(&samples, "envoy_cluster_upstream_rq_time_count", &[web]),
        1.0
    );
    let odd = ("envoy_cluster_name", "odd\"name\\");
    assert_eq!(
        value(&samples, "envoy_cluster_upstream_rq_total", &[odd]),
        1.0
    );
}

#[test]
fn downstream_counters_are_per_connection_manager() {
    let samples = parse(&render(&busy_stats())).expect("parses");
    let out = ("envoy_http_conn_manager_prefix", "outbound_0.0.0.0_8080");
    assert_eq!(
        value(&samples, "envoy_http_downstream_rq_total", &[out]),
        2.0
    );
    let class5 = [("envoy_response_code_class", "5"), out];
    assert_eq!(value(&samples, "envoy_http_downstream_rq_xx", &class5), 1.0);
    let flag = [("envoy_response_flag", "UH")];
    assert_eq!(value(&samples, "envoy_http_response_flag", &flag), 1.0);
    assert_eq!(value(&samples, "envoy_control_plane_xds_ack", &[]), 1.0);
}

#[test]
fn histogram_buckets_are_envoys_cumulative_and_end_at_the_count() {
    let samples = parse(&render(&busy_stats())).expect("parses");
    let out = ("envoy_http_conn_manager_prefix", "outbound_0.0.0.0_8080");
    let buckets = find(&samples, "envoy_http_downstream_rq_time_bucket", &[out]);
    let bounds: Vec<&str> = buckets.iter().map(|s| s.labels["le"].as_str()).collect();
    let mut expected: Vec<String> = BUCKETS_MS.iter().map(ToString::to_string).collect();
    expected.push("+Inf".into());
    assert_eq!(bounds, expected);
    let counts: Vec<f64> = buckets.iter().map(|s| s.value).collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {counts:?}"
    );
    // 3 ms falls in le=5, 30 ms in le=50.
    let at = |le: &str| {
        value(
            &samples,
            "envoy_http_downstream_rq_time_bucket",
            &[out, ("le", le)],
        )
    };
    assert_eq!((at("1"), at("5"), at("25"), at("50")), (0.0, 1.0, 1.0, 2.0));
    assert_eq!(
        at("+Inf"),
        value(&samples, "envoy_http_downstream_rq_time_count", &[out])
    );
    assert_eq!(
        value(&samples, "envoy_http_downstream_rq_time_sum", &[out]),
        33.0
    );
}

#[test]
fn a_value_on_a_bound_is_in_that_bucket() {
    let h = Histogram::default();
    h.record(Duration::from_micros(500));
    h.record(Duration::from_secs(7200));
    let (counts, _) = h.cumulative();
    assert_eq!(counts[0], 1, "0.5 ms is le=0.5");
    assert_eq!(
        counts[BUCKETS_MS.len() - 1],
        1,
        "two hours is above every bound"
    );
    assert_eq!(counts[BUCKETS_MS.len()], 2);
}

#[test]
fn the_parser_rejects_what_a_scraper_would() {
    assert!(parse("x 1\n").is_err(), "no TYPE");
    assert!(
        parse("# TYPE x counter\nx{a=\"1} 1\n").is_err(),
        "unterminated"
    );
    assert!(
        parse("# TYPE x counter\ny 1\n").is_err(),
        "outside the family"
    );
    assert!(parse("# TYPE x counter\nx one\n").is_err(), "not a number");
    assert!(
        parse("# TYPE x counter\n# TYPE x counter\n").is_err(),
        "twice"
    );
}
