//! `meshctl proxy-config`: the listeners, routes, clusters and endpoints the control
//! plane last sent to one proxy, from its `/debug/config_dump`.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::debug_client::{ControlPlaneArgs, encode_query_value};
use crate::proxy_status::{table, text, write_stdout};

/// Show the xDS config the control plane last sent to a proxy.
///
/// What was sent, not necessarily what the proxy runs: if `meshctl proxy-status`
/// shows NACKED or STALE for a type, the proxy still runs an older version of it
/// (Envoy's own view: `curl localhost:15000/config_dump` on the proxy).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl proxy-config clusters reviews-v1-0.bookinfo\n  meshctl proxy-config routes productpage-v1-0.bookinfo -o json\n  meshctl pc listeners reviews-v1-0.bookinfo --control-plane 10.0.0.5:15014"
)]
pub(crate) struct ProxyConfigArgs {
    /// Which resources.
    #[arg(value_enum)]
    kind: ResourceKind,

    /// The proxy: `pod.namespace` or its node id.
    #[arg(value_name = "PROXY")]
    proxy: String,

    #[command(flatten)]
    control_plane: ControlPlaneArgs,

    /// Output format: a table for people, or the control plane's JSON view.
    #[arg(short = 'o', long, value_enum, default_value_t = ConfigFormat::Table)]
    output: ConfigFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ResourceKind {
    #[value(alias = "listener", alias = "l")]
    Listeners,
    #[value(alias = "route", alias = "r")]
    Routes,
    #[value(alias = "cluster", alias = "c")]
    Clusters,
    #[value(alias = "endpoint", alias = "ep")]
    Endpoints,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ConfigFormat {
    Table,
    Json,
}

pub(crate) fn run(args: &ProxyConfigArgs) -> anyhow::Result<ExitCode> {
    let path = format!(
        "/debug/config_dump?proxy={}",
        encode_query_value(&args.proxy)
    );
    let reply = args.control_plane.get(&path)?;
    if reply.status != 200 {
        let error = reply.body["error"].as_str().unwrap_or("no error detail");
        let known: Vec<&str> = reply.body["known_proxies"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if known.is_empty() {
            bail!("{error}");
        }
        bail!("{error}\nconnected proxies:\n  {}", known.join("\n  "));
    }
    let key = match args.kind {
        ResourceKind::Listeners => "listeners",
        ResourceKind::Routes => "routes",
        ResourceKind::Clusters => "clusters",
        ResourceKind::Endpoints => "endpoints",
    };
    let empty = Vec::new();
    let items = reply.body[key].as_array().unwrap_or(&empty);
    match args.output {
        ConfigFormat::Json => write_stdout(&format!("{}\n", serde_json::to_string_pretty(items)?))?,
        ConfigFormat::Table => {
            let rows = match args.kind {
                ResourceKind::Listeners => listener_rows(items),
                ResourceKind::Routes => route_rows(items),
                ResourceKind::Clusters => cluster_rows(items),
                ResourceKind::Endpoints => endpoint_rows(items),
            };
            write_stdout(&table(&rows))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn header(cells: &[&str]) -> Vec<Vec<String>> {
    vec![cells.iter().map(|c| c.to_string()).collect()]
}

/// One row per cluster: Istio's name `direction|port|subset|fqdn` split into columns.
fn cluster_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = header(&["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "LB"]);
    // By service, then port (numerically), then subset, as istioctl lists them.
    let mut body: Vec<Vec<String>> = items
        .iter()
        .map(|c| {
            let name = text(c, "name");
            let (fqdn, port, subset, direction) = match name.split('|').collect::<Vec<_>>()[..] {
                [direction, port, subset, fqdn] => (fqdn, port, subset, direction),
                _ => (name, "-", "-", "-"),
            };
            vec![
                dash(fqdn),
                port.to_string(),
                dash(subset),
                direction.to_string(),
                text(c, "type").to_string(),
                text(c, "lb_policy").to_string(),
            ]
        })
        .collect();
    body.sort_by(|a, b| {
        let port = |r: &Vec<String>| r[1].parse::<u32>().unwrap_or(0);
        (&a[0], port(a), &a[2]).cmp(&(&b[0], port(b), &b[2]))
    });
    rows.extend(body);
    rows
}

/// One row per filter chain, as istioctl shows listeners.
fn listener_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = header(&["NAME", "ADDRESS", "PORT", "MATCH", "DESTINATION"]);
    for l in items {
        let name = text(l, "name");
        let address = text(l, "address");
        let (ip, port) = address
            .rsplit_once(':')
            .map_or((address, ""), |(ip, port)| (ip, port));
        let mut chains: Vec<&Value> = l["filter_chains"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        if let Some(default) = l.get("default_filter_chain").filter(|d| !d.is_null()) {
            chains.push(default);
        }
        if chains.is_empty() {
            rows.push(vec![
                name.into(),
                ip.into(),
                port.into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for chain in chains {
            rows.push(vec![
                name.into(),
                ip.into(),
                port.into(),
                chain_match(&chain["match"]),
                chain_destination(chain),
            ]);
        }
    }
    rows
}

fn chain_match(m: &Value) -> String {
    let Some(m) = m.as_object().filter(|m| !m.is_empty()) else {
        return "ALL".to_string();
    };
    let mut parts = Vec::new();
    for (key, value) in m {
        let value = match value {
            Value::Array(values) => values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let key = match key.as_str() {
            "destination_port" => "port",
            "prefix_ranges" => "addr",
            "server_names" => "sni",
            "transport_protocol" => "transport",
            "application_protocols" => "app",
            other => other,
        };
        parts.push(format!("{key}={value}"));
    }
    parts.join("; ")
}

fn chain_destination(chain: &Value) -> String {
    let mut out = Vec::new();
    for f in chain["filters"].as_array().into_iter().flatten() {
        if let Some(route) = f["route_config"].as_str() {
            out.push(format!("Route: {route}"));
        }
        for cluster in f["clusters"].as_array().into_iter().flatten() {
            out.push(format!("Cluster: {}", cluster.as_str().unwrap_or("")));
        }
    }
    if out.is_empty() {
        let name = text(chain, "name");
        return if name.is_empty() {
            "-".into()
        } else {
            name.into()
        };
    }
    out.join(", ")
}

/// One row per route of every virtual host.
fn route_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = header(&["NAME", "DOMAINS", "MATCH", "ROUTE", "ACTION"]);
    for rc in items {
        let name = text(rc, "name");
        for vh in rc["virtual_hosts"].as_array().into_iter().flatten() {
            let domains = domains(&vh["domains"]);
            for r in vh["routes"].as_array().into_iter().flatten() {
                rows.push(vec![
                    name.into(),
                    domains.clone(),
                    route_match(&r["match"]),
                    dash(text(r, "name")),
                    route_action(&r["action"]),
                ]);
            }
        }
    }
    rows
}

/// The first two domains and how many more, as istioctl abbreviates them.
fn domains(v: &Value) -> String {
    let all: Vec<&str> = v
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    match all.len() {
        0 => "-".into(),
        1 | 2 => all.join(", "),
        n => format!("{}, {} + {} more", all[0], all[1], n - 2),
    }
}

fn route_match(m: &Value) -> String {
    let Some(m) = m.as_object() else {
        return "-".into();
    };
    let mut parts = Vec::new();
    // The path first, then headers and the rest (serde_json sorts keys by name).
    let is_path = |k: &str| k.starts_with("path") || k == "prefix" || k == "regex";
    let ordered = m
        .iter()
        .filter(|(k, _)| is_path(k))
        .chain(m.iter().filter(|(k, _)| !is_path(k)));
    for (key, value) in ordered {
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Array(values) => values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(" & "),
            other => other.to_string(),
        };
        let value = readable_matcher(&value);
        parts.push(match key.as_str() {
            "prefix" => format!("{value}*"),
            "path" => value,
            "regex" => format!("~{value}"),
            _ => format!("{key}: {value}"),
        });
    }
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join("; ")
    }
}

/// Shortens the control plane's Debug form of Envoy string matchers:
/// `end-user: StringMatch(StringMatcher { …, match_pattern: Some(Exact("jason")) })`
/// becomes `end-user: exact "jason"`.
fn readable_matcher(text: &str) -> String {
    let mut out = text.to_string();
    for (kind, word) in [
        ("Exact(", "exact"),
        ("Prefix(", "prefix"),
        ("Suffix(", "suffix"),
        ("Contains(", "contains"),
    ] {
        while let Some(start) = out.find("StringMatch(StringMatcher {") {
            let Some(at) = out[start..].find(kind).map(|i| start + i + kind.len()) else {
                break;
            };
            let Some(end_quote) = out[at..].find("\")").map(|i| at + i + 1) else {
                break;
            };
            let Some(close) = out[end_quote..].find("})").map(|i| end_quote + i + 2) else {
                break;
            };
            let ignore_case = out[start..at].contains("ignore_case: true");
            let mut word = word.to_string();
            if ignore_case {
                word.push_str(" (ignore case)");
            }
            out = format!(
                "{}{word} {}{}",
                &out[..start],
                &out[at..end_quote],
                &out[close..]
            );
        }
    }
    if let Some(start) = out.find("StringMatch(StringMatcher {")
        && let Some(regex) = out[start..].find("regex: \"").map(|i| start + i + 7)
        && let Some(end) = out[regex..].find("\",").map(|i| regex + i + 1)
    {
        out = format!("{}regex {}", &out[..start], &out[regex..end]);
    }
    out.replace("PresentMatch(true)", "present")
}

fn route_action(a: &Value) -> String {
    if let Some(route) = a.get("route") {
        let mut out = if let Some(c) = route["cluster"].as_str() {
            c.to_string()
        } else if let Some(weighted) = route["weighted_clusters"].as_array() {
            weighted
                .iter()
                .map(|w| format!("{} {}%", text(w, "name"), w["weight"]))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            route["cluster_specifier"]
                .as_str()
                .unwrap_or("-")
                .to_string()
        };
        if let Some(t) = route["timeout"].as_str().filter(|t| *t != "0s") {
            out.push_str(&format!(" (timeout {t})"));
        }
        return out;
    }
    if let Some(r) = a.get("redirect") {
        let code = r["response_code"]
            .as_u64()
            .map_or(String::new(), |c| format!(" [{c}]"));
        return format!(
            "redirect to {}{}{code}",
            r["host"].as_str().unwrap_or(""),
            r["path"].as_str().unwrap_or("")
        );
    }
    if let Some(d) = a.get("direct_response") {
        return format!("direct response {}", d["status"]);
    }
    a.to_string()
}

/// One row per endpoint of every cluster.
fn endpoint_rows(items: &[Value]) -> Vec<Vec<String>> {
    let mut rows = header(&["ENDPOINT", "STATUS", "WEIGHT", "CLUSTER"]);
    let mut items: Vec<&Value> = items.iter().collect();
    items.sort_by_key(|e| cluster_sort_key(text(e, "cluster_name")));
    for cla in items {
        let cluster = text(cla, "cluster_name");
        for e in cla["endpoints"].as_array().into_iter().flatten() {
            rows.push(vec![
                dash(text(e, "address")),
                dash(text(e, "health_status")),
                e["weight"].as_u64().map_or("-".into(), |w| w.to_string()),
                cluster.into(),
            ]);
        }
    }
    rows
}

/// By service, then port (numerically), then subset, as istioctl lists clusters;
/// names not in Istio's form sort by themselves.
fn cluster_sort_key(name: &str) -> (String, u32, String) {
    match name.split('|').collect::<Vec<_>>()[..] {
        [_, port, subset, fqdn] => (
            fqdn.to_string(),
            port.parse().unwrap_or(0),
            subset.to_string(),
        ),
        _ => (name.to_string(), 0, String::new()),
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn clusters_split_istio_names_into_columns() {
        let rows = cluster_rows(&[
            json!({"name": "outbound|9080|v1|reviews.bookinfo.svc.cluster.local", "type": "EDS", "lb_policy": "ROUND_ROBIN"}),
            json!({"name": "PassthroughCluster", "type": "ORIGINAL_DST"}),
        ]);
        let text = table(&rows);
        assert!(
            text.contains("reviews.bookinfo.svc.cluster.local  9080  v1      outbound   EDS"),
            "{text}"
        );
        assert!(
            text.contains(
                "PassthroughCluster                  -     -       -          ORIGINAL_DST"
            ),
            "{text}"
        );
    }

    #[test]
    fn routes_show_matches_and_weighted_actions() {
        let rows = route_rows(&[json!({
            "name": "9080",
            "virtual_hosts": [{
                "domains": ["reviews", "reviews.bookinfo", "reviews.bookinfo.svc.cluster.local"],
                "routes": [{
                    "name": "jason",
                    "match": {"prefix": "/", "headers": ["end-user: exact jason"]},
                    "action": {"route": {"weighted_clusters": [
                        {"name": "outbound|9080|v1|reviews.bookinfo.svc.cluster.local", "weight": 80},
                    ]}},
                }],
            }],
        })]);
        let row = rows[1].join(" | ");
        assert_eq!(
            row,
            "9080 | reviews, reviews.bookinfo + 1 more | /*; headers: end-user: exact jason | jason | outbound|9080|v1|reviews.bookinfo.svc.cluster.local 80%"
        );
    }

    #[test]
    fn string_matchers_read_like_istio_config() {
        assert_eq!(
            readable_matcher(
                "end-user: StringMatch(StringMatcher { ignore_case: false, match_pattern: Some(Exact(\"jason\")) })"
            ),
            "end-user: exact \"jason\""
        );
        assert_eq!(readable_matcher("x: PresentMatch(true)"), "x: present");
        assert_eq!(readable_matcher("plain"), "plain");
    }

    #[test]
    fn listeners_show_one_row_per_filter_chain() {
        let rows = listener_rows(&[json!({
            "name": "0.0.0.0_9080", "address": "0.0.0.0:9080",
            "filter_chains": [
                {"name": "http", "match": {}, "filters": [{"name": "hcm", "route_config": "9080"}]},
                {"name": "tcp", "match": {"prefix_ranges": ["10.96.0.1/32"]}, "filters": [{"name": "tcp", "clusters": ["outbound|9080||db"]}]},
            ],
        })]);
        assert_eq!(
            rows[1],
            ["0.0.0.0_9080", "0.0.0.0", "9080", "ALL", "Route: 9080"]
        );
        assert_eq!(rows[2][3], "addr=10.96.0.1/32");
        assert_eq!(rows[2][4], "Cluster: outbound|9080||db");
    }
}
