//! `meshctl proxy-status`: which proxies are connected and whether each has the
//! latest config of every xDS type, from the control plane's `/debug/syncz`.

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::debug_client::ControlPlaneArgs;

/// The xDS types in the order of the table (and of istioctl's).
const TYPES: [&str; 4] = ["CDS", "LDS", "EDS", "RDS"];

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

pub(crate) fn run(args: &ProxyStatusArgs) -> anyhow::Result<ExitCode> {
    let reply = args.control_plane.get("/debug/syncz")?;
    let Some(all) = reply.body.as_array().filter(|_| reply.status == 200) else {
        bail!(
            "{}/debug/syncz answered {} without a list of proxies: {}",
            args.control_plane.control_plane,
            reply.status,
            reply.body
        );
    };
    let mut proxies: Vec<&Value> = all
        .iter()
        .filter(|p| args.proxy.as_deref().is_none_or(|want| is_proxy(p, want)))
        .collect();
    proxies.sort_by_key(|p| (text(p, "name"), text(p, "proxy")));
    if let Some(want) = &args.proxy
        && proxies.is_empty()
    {
        let known: Vec<&str> = all.iter().map(|p| text(p, "name")).collect();
        bail!(
            "proxy {want:?} is not connected to the control plane at {}; connected: {}",
            args.control_plane.control_plane,
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
        StatusFormat::Table => write_stdout(&render(&proxies, &args.control_plane.control_plane))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `meshctl proxy-config` resource kind that shows an xDS type.
fn proxy_config_kind(ty: &str) -> &'static str {
    match ty {
        "CDS" => "clusters",
        "LDS" => "listeners",
        "EDS" => "endpoints",
        _ => "routes",
    }
}

/// Whether `p` is the proxy a user named (by `pod.namespace` or node id).
pub(crate) fn is_proxy(p: &Value, want: &str) -> bool {
    text(p, "name") == want || text(p, "proxy") == want
}

/// The table, then one paragraph per NACK and per STALE type.
fn render(proxies: &[&Value], address: &str) -> String {
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
        let name = text(p, "name");
        let mut row = vec![name.to_string()];
        for ty in TYPES {
            let t = &p["types"][ty];
            let state = t["state"].as_str().unwrap_or("UNKNOWN");
            row.push(state.replace('_', " "));
            let version = |key: &str| t[key].as_str().unwrap_or("-").to_string();
            match state {
                "NACKED" => problems.push(format!(
                    "NACKED  {name} {ty}: the proxy rejected version {} and {}\n  \
                     proxy:  {}\n  error:  {}\n  \
                     see:    meshctl proxy-config {} {name}\n",
                    version("sent_version"),
                    match t["acked_version"].as_str() {
                        Some(v) => format!("keeps serving version {v}"),
                        None => format!("has no accepted {ty} config yet"),
                    },
                    text(p, "proxy"),
                    t["error"].as_str().unwrap_or("(no error detail)"),
                    proxy_config_kind(ty),
                )),
                "STALE" => problems.push(format!(
                    "STALE   {name} {ty}: sent version {} (nonce {}), the proxy has ACKed only {}; \
                     it has not answered yet\n",
                    version("sent_version"),
                    version("sent_nonce"),
                    version("acked_version")
                )),
                _ => {}
            }
        }
        row.push(text(p, "protocol").to_string());
        let config = p["config_version"]
            .as_u64()
            .map_or(String::new(), |v| format!(" (config {v})"));
        row.push(format!("{}{config}", text(p, "control_plane_version")));
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

/// A string field, or "" (so that a field the control plane drops never crashes us).
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
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
mod tests {
    use serde_json::json;

    use super::*;

    fn proxy(rds: Value) -> Value {
        let synced = json!({"state": "SYNCED", "sent_version": "7", "acked_version": "7"});
        json!({
            "proxy": "sidecar~10.0.0.2~client-0.e2e~e2e.svc.cluster.local",
            "name": "client-0.e2e",
            "protocol": "sotw",
            "control_plane_version": "0.1.0",
            "config_version": 7,
            "types": {"CDS": synced, "LDS": synced, "EDS": {"state": "NOT_SENT"}, "RDS": rds},
        })
    }

    #[test]
    fn nacks_are_listed_below_the_table_with_envoys_error() {
        let p = proxy(json!({
            "state": "NACKED", "sent_version": "8", "acked_version": "7",
            "error": "regex '^(a|b){20}$' RE2 program size of 182 > max program size of 100",
        }));
        let text = render(&[&p], "127.0.0.1:15014");
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with("NAME          CDS     LDS     EDS       RDS     PROTOCOL"),
            "{text}"
        );
        let row = lines.next().unwrap();
        assert!(row.contains("SYNCED  SYNCED  NOT SENT  NACKED"), "{text}");
        assert!(row.ends_with("0.1.0 (config 7)"), "{text}");
        assert!(
            text.contains(
                "NACKED  client-0.e2e RDS: the proxy rejected version 8 and keeps serving version 7"
            ),
            "{text}"
        );
        assert!(
            text.contains("see:    meshctl proxy-config routes client-0.e2e"),
            "{text}"
        );
        assert!(text.contains("program size of 182"), "{text}");
    }

    #[test]
    fn missing_fields_do_not_crash_the_table() {
        let text = render(&[&json!({"name": "x.y"})], "addr");
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|row| row.starts_with("x.y   UNKNOWN")),
            "{text}"
        );
        assert!(
            render(&[], "addr").contains("no proxies are connected to the control plane at addr")
        );
    }
}
