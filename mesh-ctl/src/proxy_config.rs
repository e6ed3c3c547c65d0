//! `meshctl proxy-config`: the listeners, routes, clusters and endpoints the control
//! plane last sent to one proxy, from its `/debug/config_dump`; and the proxy's
//! certificates ([`secret`]), from the proxy's own admin endpoint.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use mesh_api::debug::{
    ActionView, ClusterSpecifierView, ClusterView, DumpedResource, EndpointsView,
    FilterChainMatchView, FilterChainView, ListenerView, PathMatchView, ProxyConfigDump,
    RouteConfigurationView, RouteMatchView, path,
};
use serde::Serialize;

use crate::cluster::ClusterArgs;
use crate::debug_client::{ControlPlaneArgs, encode_query_value};
use crate::port_forward::{self, Target};
use crate::proxy_status::{table, write_stdout};

/// A sidecar's admin port (Envoy's and mesh-proxy's).
const ADMIN_PORT: u16 = 15000;
const LOCAL_ADMIN: &str = "127.0.0.1:15000";

mod proxy_admin;
mod secret;

/// Show the xDS config the control plane last sent to a proxy.
///
/// What was sent, not necessarily what the proxy runs: if `meshctl proxy-status`
/// shows NACKED or STALE for a type, the proxy still runs an older version of it
/// (Envoy's own view: `curl localhost:15000/config_dump` on the proxy).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl proxy-config clusters reviews-v1-0.bookinfo\n  meshctl proxy-config routes productpage-v1-0.bookinfo -o json\n  meshctl pc listeners reviews-v1-0.bookinfo --control-plane 10.0.0.5:15014\n  meshctl proxy-config secret reviews-v1-0.bookinfo --admin 127.0.0.1:15000"
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

    /// For `secret`: the proxy's admin endpoint (Envoy's or mesh-proxy's), where
    /// its certificates are read; they never pass through the control plane.
    /// Default: a port-forward to the pod PROXY (`name.namespace`) when a cluster
    /// is configured, else 127.0.0.1:15000.
    #[arg(long, env = "MESH_PROXY_ADMIN", value_name = "HOST:PORT")]
    admin: Option<String>,

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
    /// The proxy's certificates (`default`, `ROOTCA`), from its admin endpoint.
    #[value(alias = "secrets", alias = "s")]
    Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ConfigFormat {
    Table,
    Json,
}

pub(crate) fn run(args: &ProxyConfigArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let text = match args.kind {
        ResourceKind::Listeners => {
            show(&sent(args, cluster)?.listeners, args.output, listener_rows)?
        }
        ResourceKind::Routes => show(&sent(args, cluster)?.routes, args.output, route_rows)?,
        ResourceKind::Clusters => show(&sent(args, cluster)?.clusters, args.output, cluster_rows)?,
        ResourceKind::Endpoints => {
            show(&sent(args, cluster)?.endpoints, args.output, endpoint_rows)?
        }
        ResourceKind::Secret => {
            let admin = admin_address(args, cluster)?;
            secret::run(&args.proxy, &admin, args.output == ConfigFormat::Json)?
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// The proxy's admin endpoint: the flag; else a port-forward to the pod's 15000
/// when a cluster is configured; else the local default.
fn admin_address(args: &ProxyConfigArgs, cluster: &ClusterArgs) -> anyhow::Result<String> {
    if let Some(address) = &args.admin {
        return Ok(address.clone());
    }
    if !cluster.configured() {
        return Ok(LOCAL_ADMIN.to_string());
    }
    let (name, namespace) = pod_of(&args.proxy);
    let forward = port_forward::start(cluster, Target::Pod { name, namespace }, ADMIN_PORT)
        .map_err(anyhow::Error::from)
        .context(
            "cannot port-forward to the proxy's admin port; pass --admin HOST:PORT to read it \
             elsewhere",
        )?;
    Ok(forward.address.to_string())
}

/// The pod a `name.namespace` proxy name means; without a namespace, `-n`'s (or
/// the context's).
fn pod_of(proxy: &str) -> (String, Option<String>) {
    // Namespaces hold no dots, pod names may: the namespace is after the last one.
    match proxy.rsplit_once('.') {
        Some((name, namespace)) => (name.to_string(), Some(namespace.to_string())),
        None => (proxy.to_string(), None),
    }
}

/// What the control plane last sent to the proxy.
fn sent(args: &ProxyConfigArgs, cluster: &ClusterArgs) -> anyhow::Result<ProxyConfigDump> {
    let path = format!(
        "{}?{}={}",
        path::CONFIG_DUMP,
        path::CONFIG_DUMP_PROXY,
        encode_query_value(&args.proxy)
    );
    args.control_plane.client(cluster)?.get(&path)
}

/// The resources of one kind as JSON, or as a table of the decoded ones followed by
/// a line for each the control plane could not decode.
fn show<V: Serialize>(
    resources: &[DumpedResource<V>],
    format: ConfigFormat,
    rows: fn(&[&V]) -> Vec<Vec<String>>,
) -> anyhow::Result<String> {
    if format == ConfigFormat::Json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(resources)?));
    }
    let views: Vec<&V> = resources
        .iter()
        .filter_map(DumpedResource::decoded)
        .collect();
    let mut out = table(&rows(&views));
    for resource in resources {
        if let DumpedResource::Undecodable(r) = resource {
            out.push_str(&format!(
                "\n{}: the control plane could not decode what it sent (version {}): {}\n",
                r.name, r.version, r.decode_error
            ));
        }
    }
    Ok(out)
}

fn header(cells: &[&str]) -> Vec<Vec<String>> {
    vec![cells.iter().map(|c| c.to_string()).collect()]
}

/// One row per cluster: Istio's name `direction|port|subset|fqdn` split into columns.
fn cluster_rows(items: &[&ClusterView]) -> Vec<Vec<String>> {
    let mut rows = header(&["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "LB"]);
    // By service, then port (numerically), then subset, as istioctl lists them.
    let mut body: Vec<Vec<String>> = items
        .iter()
        .map(|c| {
            let name = c.name.as_str();
            let (fqdn, port, subset, direction) = match name.split('|').collect::<Vec<_>>()[..] {
                [direction, port, subset, fqdn] => (fqdn, port, subset, direction),
                _ => (name, "-", "-", "-"),
            };
            vec![
                dash(fqdn),
                port.to_string(),
                dash(subset),
                direction.to_string(),
                c.discovery_type.clone(),
                c.lb_policy.clone(),
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
fn listener_rows(items: &[&ListenerView]) -> Vec<Vec<String>> {
    let mut rows = header(&["NAME", "ADDRESS", "PORT", "MATCH", "DESTINATION"]);
    for l in items {
        let name = l.name.as_str();
        let address = l.address.as_deref().unwrap_or("");
        let (ip, port) = address.rsplit_once(':').unwrap_or((address, ""));
        let chains: Vec<&FilterChainView> = l
            .filter_chains
            .iter()
            .chain(&l.default_filter_chain)
            .collect();
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
                chain_match(&chain.chain_match),
                chain_destination(chain),
            ]);
        }
    }
    rows
}

fn chain_match(m: &FilterChainMatchView) -> String {
    if m.is_empty() {
        return "ALL".to_string();
    }
    // In the order the table has always shown them (that of the JSON keys' names).
    let parts = [
        ("app", m.application_protocols.join(",")),
        (
            "port",
            m.destination_port
                .map(|p| p.to_string())
                .unwrap_or_default(),
        ),
        ("addr", m.prefix_ranges.join(",")),
        ("sni", m.server_names.join(",")),
        (
            "transport",
            m.transport_protocol.clone().unwrap_or_default(),
        ),
    ];
    parts
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn chain_destination(chain: &FilterChainView) -> String {
    let mut out = Vec::new();
    for f in &chain.filters {
        if let Some(route) = &f.route_config {
            out.push(format!("Route: {route}"));
        }
        for cluster in &f.clusters {
            out.push(format!("Cluster: {cluster}"));
        }
    }
    if out.is_empty() {
        return dash(&chain.name);
    }
    out.join(", ")
}

/// One row per route of every virtual host.
fn route_rows(items: &[&RouteConfigurationView]) -> Vec<Vec<String>> {
    let mut rows = header(&["NAME", "DOMAINS", "MATCH", "ROUTE", "ACTION"]);
    for rc in items {
        for vh in &rc.virtual_hosts {
            let domains = domains(&vh.domains);
            for r in &vh.routes {
                rows.push(vec![
                    rc.name.clone(),
                    domains.clone(),
                    route_match(&r.route_match),
                    dash(&r.name),
                    route_action(&r.action),
                ]);
            }
        }
    }
    rows
}

/// The first two domains and how many more, as istioctl abbreviates them.
fn domains(all: &[String]) -> String {
    match all.len() {
        0 => "-".into(),
        1 | 2 => all.join(", "),
        n => format!("{}, {} + {} more", all[0], all[1], n - 2),
    }
}

/// The path first, then headers and the rest.
fn route_match(m: &RouteMatchView) -> String {
    let mut parts = Vec::new();
    match &m.path {
        Some(PathMatchView::Prefix(p)) => parts.push(format!("{}*", readable_matcher(p))),
        Some(PathMatchView::Path(p)) => parts.push(readable_matcher(p)),
        Some(PathMatchView::Regex(r)) => parts.push(format!("~{}", readable_matcher(r))),
        Some(PathMatchView::PathSeparatedPrefix(p)) => {
            parts.push(format!("path_separated_prefix: {}", readable_matcher(p)))
        }
        Some(PathMatchView::Other(other)) => {
            parts.push(format!("path_specifier: {}", readable_matcher(other)))
        }
        None => {}
    }
    if let Some(case_sensitive) = m.case_sensitive {
        parts.push(format!("case_sensitive: {case_sensitive}"));
    }
    for (key, matchers) in [
        ("headers", &m.headers),
        ("query_parameters", &m.query_parameters),
    ] {
        if !matchers.is_empty() {
            parts.push(format!(
                "{key}: {}",
                readable_matcher(&matchers.join(" & "))
            ));
        }
    }
    if let Some(fraction) = &m.runtime_fraction {
        parts.push(format!("runtime_fraction: {}", readable_matcher(fraction)));
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

fn route_action(a: &ActionView) -> String {
    match a {
        ActionView::Route(route) => {
            let mut out = match &route.cluster {
                Some(ClusterSpecifierView::Cluster(c)) => c.clone(),
                Some(ClusterSpecifierView::WeightedClusters(weighted)) => weighted
                    .iter()
                    .map(|w| match w.weight {
                        Some(weight) => format!("{} {weight}%", w.name),
                        None => w.name.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(ClusterSpecifierView::Other(other)) => other.clone(),
                None => "-".to_string(),
            };
            if let Some(t) = route.timeout.as_deref().filter(|t| *t != "0s") {
                out.push_str(&format!(" (timeout {t})"));
            }
            out
        }
        ActionView::Redirect(r) => format!(
            "redirect to {}{} [{}]",
            r.host,
            r.path.as_deref().unwrap_or(""),
            r.response_code
        ),
        ActionView::DirectResponse(d) => format!("direct response {}", d.status),
        ActionView::Other(other) => other.clone(),
    }
}

/// One row per endpoint of every cluster.
fn endpoint_rows(items: &[&EndpointsView]) -> Vec<Vec<String>> {
    let mut rows = header(&["ENDPOINT", "STATUS", "WEIGHT", "CLUSTER"]);
    let mut items = items.to_vec();
    items.sort_by_key(|e| cluster_sort_key(&e.cluster_name));
    for cla in items {
        for e in &cla.endpoints {
            rows.push(vec![
                dash(e.address.as_deref().unwrap_or("")),
                dash(&e.health_status),
                e.weight.map_or("-".into(), |w| w.to_string()),
                cla.cluster_name.clone(),
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
mod tests;
