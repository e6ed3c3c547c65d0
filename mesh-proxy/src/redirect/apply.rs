//! The shell around [`super::rules`]: read the nat table, run one
//! `iptables-restore --noflush` transaction per address family, and turn failures into
//! errors that say what to do.

use std::io::Write as _;
use std::process::{Command, Stdio};

use super::RedirectOptions;
use super::rules::{Family, NatState, clean, install};

/// Where the kernel lists this namespace's IPv6 addresses.
const IF_INET6: &str = "/proc/net/if_inet6";

/// Whether to install the IPv6 rules too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Ipv6Mode {
    /// When the namespace has an IPv6 address other than `::1` and link-local ones.
    Auto,
    Always,
    Never,
}

/// One `mesh-proxy redirect` invocation.
#[derive(Debug, Clone)]
pub struct RedirectRequest {
    pub options: RedirectOptions,
    pub ipv6: Ipv6Mode,
    /// Remove our chains and jumps instead of installing them.
    pub clean: bool,
    /// Print the `iptables-restore` input instead of running it.
    pub dry_run: bool,
}

/// Why the rules could not be read or applied.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error(
        "cannot run `{tool}`: {source}; install iptables (nft or legacy variant) or put it on PATH"
    )]
    ToolMissing {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error(
        "`{tool}` was refused: {stderr}; run `mesh-proxy redirect` as root or with CAP_NET_ADMIN and CAP_NET_RAW (Istio's istio-init container has both)"
    )]
    NotPermitted { tool: &'static str, stderr: String },
    #[error("`{tool}` failed: {stderr}\n{next}")]
    Failed {
        tool: &'static str,
        stderr: String,
        /// What to look at: the numbered input for a failed transaction.
        next: String,
    },
}

/// Installs (or with `clean`, removes) the rules; returns what was done, or with
/// `dry_run` the input that would be applied.
pub fn run(request: &RedirectRequest) -> Result<String, RedirectError> {
    let mut report = String::new();
    for family in families(request.ipv6) {
        let tools = Tools::of(family);
        let current = match list_nat(tools) {
            Ok(state) => state,
            // A dry run should work anywhere, e.g. to review the rules unprivileged.
            Err(e) if request.dry_run => {
                report.push_str(&format!(
                    "# cannot read the nat table ({e}); assuming it holds none of our rules\n"
                ));
                NatState::default()
            }
            Err(e) => return Err(e),
        };
        let input = if request.clean {
            clean(&current)
        } else {
            Some(install(&request.options, family, &current))
        };
        let Some(input) = input else {
            report.push_str(&format!("{}: nothing to clean\n", tools.list));
            continue;
        };
        if request.dry_run {
            report.push_str(&format!("# {} --noflush\n{input}", tools.restore));
            continue;
        }
        restore(tools, &input)?;
        let what = if request.clean {
            "removed"
        } else {
            "installed"
        };
        report.push_str(&format!("{}: nat rules {what}\n", tools.restore));
    }
    Ok(report)
}

/// True when `if_inet6` (`/proc/net/if_inet6`) lists an address other than `::1` and
/// link-local (`fe80::/10`) ones: those exist wherever IPv6 is merely enabled.
pub fn has_global_ipv6(if_inet6: &str) -> bool {
    if_inet6
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|hex| u128::from_str_radix(hex, 16).ok())
        .any(|address| address != 1 && (address >> 118) != 0x3fa)
}

fn families(mode: Ipv6Mode) -> Vec<Family> {
    let ipv6 = match mode {
        Ipv6Mode::Always => true,
        Ipv6Mode::Never => false,
        Ipv6Mode::Auto => std::fs::read_to_string(IF_INET6).is_ok_and(|s| has_global_ipv6(&s)),
    };
    if ipv6 {
        vec![Family::V4, Family::V6]
    } else {
        vec![Family::V4]
    }
}

#[derive(Debug, Clone, Copy)]
struct Tools {
    list: &'static str,
    restore: &'static str,
}

impl Tools {
    fn of(family: Family) -> Tools {
        match family {
            Family::V4 => Tools {
                list: "iptables",
                restore: "iptables-restore",
            },
            Family::V6 => Tools {
                list: "ip6tables",
                restore: "ip6tables-restore",
            },
        }
    }
}

fn list_nat(tools: Tools) -> Result<NatState, RedirectError> {
    let tool = tools.list;
    let out = Command::new(tool)
        .args(["-t", "nat", "-S"])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| RedirectError::ToolMissing { tool, source })?;
    if !out.status.success() {
        let next = "check that the kernel has the nat table (iptable_nat or nf_tables)";
        return Err(failure(tool, &out.stderr, next.to_string()));
    }
    Ok(NatState::parse(&String::from_utf8_lossy(&out.stdout)))
}

fn restore(tools: Tools, input: &str) -> Result<(), RedirectError> {
    let tool = tools.restore;
    let mut child = Command::new(tool)
        .arg("--noflush")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RedirectError::ToolMissing { tool, source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows up as the tool's failure below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|source| RedirectError::ToolMissing { tool, source })?;
    if out.status.success() {
        return Ok(());
    }
    let numbered: String = input
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{:>4}  {line}\n", i + 1))
        .collect();
    let next = format!(
        "the input was (line numbers as in the message):\n{numbered}check the flags; `mesh-proxy redirect --dry-run` prints the input without applying it"
    );
    Err(failure(tool, &out.stderr, next))
}

fn failure(tool: &'static str, stderr: &[u8], next: String) -> RedirectError {
    let stderr = String::from_utf8_lossy(stderr).trim().to_string();
    let lower = stderr.to_lowercase();
    if [
        "permission denied",
        "must be root",
        "operation not permitted",
    ]
    .iter()
    .any(|s| lower.contains(s))
    {
        RedirectError::NotPermitted { tool, stderr }
    } else {
        RedirectError::Failed { tool, stderr, next }
    }
}
