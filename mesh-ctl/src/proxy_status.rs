//! `meshctl proxy-status`: which proxies are connected and whether each has the
//! latest config of every xDS type, from the control plane's `/debug/syncz`.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, ValueEnum};
use mesh_api::debug::{DiscoveryService, ProxySyncStatus, SyncState, path};

use crate::cluster::ClusterArgs;
use crate::debug_client::ControlPlaneArgs;

/// The xDS types in the order of the table (and of istioctl's).
const TYPES: [DiscoveryService; 4] = [
    DiscoveryService::Cds,
    DiscoveryService::Lds,
    DiscoveryService::Eds,
    DiscoveryService::Rds,
];

/// Show the sync state of every proxy connected to the control plane.
///
/// For each proxy and xDS type: SYNCED (the proxy ACKed the latest config), NOT SENT
/// (nothing of that type sent yet), STALE (sent, not ACKed yet) or NACKED (the proxy
/// rejected it and keeps its last accepted config; Envoy's error is printed below the
/// table).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl proxy-status\n  meshctl proxy-status reviews-v1-0.bookinfo -o json\n  meshctl proxy-status --control-plane 10.0.0.5:15014"
)]
pub(crate) struct ProxyStatusArgs {
    /// Only this proxy: `pod.namespace` or its node id.
    #[arg(value_name = "PROXY")]
    proxy: Option<String>,

    #[command(flatten)]
    control_plane: ControlPlaneArgs,

    /// Output format: a table for people, or the control plane's JSON.
    #[arg(short = 'o', long, value_enum, default_value_t = StatusFormat::Table)]
    output: StatusFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StatusFormat {
    Table,
    Json,
}

pub(crate) fn run(args: &ProxyStatusArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let client = args.control_plane.client(cluster)?;
    let all: Vec<ProxySyncStatus> = client.get(path::SYNCZ)?;
    let mut proxies: Vec<&ProxySyncStatus> = all
        .iter()
        .filter(|p| args.proxy.as_deref().is_none_or(|want| is_proxy(p, want)))
        .collect();
    proxies.sort_by(|a, b| (&a.name, &a.proxy).cmp(&(&b.name, &b.proxy)));
    if let Some(want) = &args.proxy
        && proxies.is_empty()
    {
        let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "proxy {want:?} is not connected to the control plane at {}; connected: {}",
            client.shown(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    match args.output {
        StatusFormat::Json => {
            write_stdout(&format!("{}\n", serde_json::to_string_pretty(&proxies)?))?
        }
        StatusFormat::Table => write_stdout(&render(&proxies, client.shown()))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `meshctl proxy-config` resource kind that shows an xDS type.
fn proxy_config_kind(ty: DiscoveryService) -> &'static str {
    match ty {
        DiscoveryService::Cds => "clusters",
        DiscoveryService::Lds => "listeners",
        DiscoveryService::Eds => "endpoints",
        DiscoveryService::Rds => "routes",
    }
}

/// Whether `p` is the proxy a user named (by `pod.namespace` or node id).
fn is_proxy(p: &ProxySyncStatus, want: &str) -> bool {
    p.name == want || p.proxy == want
}

/// The table, then one paragraph per NACK and per STALE type.
fn render(proxies: &[&ProxySyncStatus], address: &str) -> String {
    if proxies.is_empty() {
        return format!("no proxies are connected to the control plane at {address}\n");
    }
    let mut rows = vec![
        [
            "NAME",
            "CDS",
            "LDS",
            "EDS",
            "RDS",
            "PROTOCOL",
            "CONTROL PLANE VERSION",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    let mut problems = Vec::new();
    for p in proxies {
        let name = &p.name;
        let mut row = vec![name.clone()];
        for ty in TYPES {
            // A type this meshctl knows and the control plane did not report.
            let Some(t) = p.types.get(&ty) else {
                row.push("UNKNOWN".to_string());
                continue;
            };
            row.push(t.state.label().to_string());
            let version = |v: &Option<String>| v.as_deref().unwrap_or("-").to_string();
            match t.state {
                SyncState::Nacked => problems.push(format!(
                    "NACKED  {name} {ty}: the proxy rejected version {} and {}\n  \
                     proxy:  {}\n  error:  {}\n  \
                     see:    meshctl proxy-config {} {name}\n",
                    version(&t.sent_version),
                    match &t.acked_version {
                        Some(v) => format!("keeps serving version {v}"),
                        None => format!("has no accepted {ty} config yet"),
                    },
                    p.proxy,
                    t.error.as_deref().unwrap_or("(no error detail)"),
                    proxy_config_kind(ty),
                )),
                SyncState::Stale => problems.push(format!(
                    "STALE   {name} {ty}: sent version {} (nonce {}), the proxy has ACKed only {}; \
                     it has not answered yet\n",
                    version(&t.sent_version),
                    version(&t.sent_nonce),
                    version(&t.acked_version)
                )),
                SyncState::Synced | SyncState::NotSent => {}
            }
        }
        row.push(p.protocol.to_string());
        row.push(format!(
            "{} (config {})",
            p.control_plane_version, p.config_version
        ));
        rows.push(row);
    }
    let mut out = table(&rows);
    if !problems.is_empty() {
        out.push('\n');
        out.push_str(&problems.join("\n"));
    }
    out
}

/// Writes `text` to stdout; a closed pipe (`meshctl … | head`) is not an error.
pub(crate) fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Left-aligned columns, two spaces apart; the first row is the header.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count() + 2;
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests;
