//! The flags of `mesh-proxy redirect`: Istio's `istio-iptables` flags (its short
//! letters and long names accepted too), each with a `MESH_*` variable.

use super::apply::{Ipv6Mode, RedirectRequest};
use super::{
    RedirectOptions, parse_cidrs, parse_ids, parse_ip_ranges, parse_port_selection, parse_ports,
};

/// Installs, in the current network namespace, the nat rules of Istio's `istio-init`:
/// TCP to the pod is redirected to the proxy's inbound capture port (15006), TCP from
/// the pod to its outbound capture port (15001), except traffic of the proxy's own
/// user and group (1337) and its own ports (15000, 15001, 15006, 15020, 15021, 15090).
///
/// Run it once per pod before the app starts (an init container, or `ip netns exec`),
/// as root or with CAP_NET_ADMIN and CAP_NET_RAW. Running it again replaces the rules;
/// `--clean` removes them; `--dry-run` prints the `iptables-restore` input instead.
/// Lists are comma-separated; `*` means all.
#[derive(Debug, Clone, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct RedirectArgs {
    /// Users whose traffic is never captured (the proxy's).
    #[arg(
        short = 'u',
        long,
        alias = "proxy-uids",
        env = "MESH_PROXY_UID",
        default_value = "1337"
    )]
    proxy_uid: String,
    /// Groups whose traffic is never captured [default: the --proxy-uid values].
    #[arg(short = 'g', long, env = "MESH_PROXY_GID")]
    proxy_gid: Option<String>,
    /// Inbound ports captured: `*` for all, a list, or empty for no inbound capture.
    #[arg(
        short = 'b',
        long,
        alias = "istio-inbound-ports",
        env = "MESH_INBOUND_PORTS",
        default_value = "*"
    )]
    inbound_ports: String,
    /// Inbound ports not captured when --inbound-ports is `*`.
    #[arg(
        short = 'd',
        long,
        alias = "istio-local-exclude-ports",
        env = "MESH_EXCLUDE_INBOUND_PORTS",
        default_value = ""
    )]
    exclude_inbound_ports: String,
    /// Outbound ports always captured, whatever the destination address.
    #[arg(
        short = 'q',
        long,
        alias = "istio-outbound-ports",
        env = "MESH_OUTBOUND_PORTS",
        default_value = ""
    )]
    outbound_ports: String,
    /// Outbound ports never captured.
    #[arg(
        short = 'o',
        long,
        alias = "istio-local-outbound-ports-exclude",
        env = "MESH_EXCLUDE_OUTBOUND_PORTS",
        default_value = ""
    )]
    exclude_outbound_ports: String,
    /// Outbound destinations captured, as CIDRs: `*` for all, or empty for none.
    #[arg(
        short = 'i',
        long,
        alias = "istio-service-cidr",
        env = "MESH_OUTBOUND_IP_RANGES",
        default_value = "*"
    )]
    outbound_ip_ranges: String,
    /// Outbound destinations never captured, as CIDRs.
    #[arg(
        short = 'x',
        long,
        alias = "istio-service-exclude-cidr",
        env = "MESH_EXCLUDE_OUTBOUND_IP_RANGES",
        default_value = ""
    )]
    exclude_outbound_ip_ranges: String,
    /// Where inbound connections are redirected (`virtualInbound`).
    #[arg(
        short = 'z',
        long,
        env = "MESH_INBOUND_CAPTURE_PORT",
        default_value_t = 15006
    )]
    inbound_capture_port: u16,
    /// Where outbound connections are redirected (`virtualOutbound`).
    #[arg(
        short = 'p',
        long,
        alias = "envoy-port",
        env = "MESH_OUTBOUND_CAPTURE_PORT",
        default_value_t = 15001
    )]
    outbound_capture_port: u16,
    /// Install the IPv6 rules (ip6tables-restore) too: `auto` when the namespace has
    /// an IPv6 address other than ::1 and link-local ones.
    #[arg(long, env = "MESH_IPV6", value_enum, default_value = "auto")]
    ipv6: Ipv6Mode,
    /// Print the iptables-restore input; change nothing.
    #[arg(short = 'n', long, env = "MESH_DRY_RUN")]
    dry_run: bool,
    /// Remove the chains and jumps a previous run installed.
    #[arg(long, alias = "cleanup")]
    clean: bool,
}

impl RedirectArgs {
    /// The request, or the first bad flag value, named with the flag.
    pub fn request(&self) -> Result<RedirectRequest, String> {
        let flag = |name: &'static str| move |e: String| format!("--{name}: {e}");
        let proxy_uids = parse_ids(&self.proxy_uid).map_err(flag("proxy-uid"))?;
        let proxy_gids = match &self.proxy_gid {
            Some(gids) => parse_ids(gids).map_err(flag("proxy-gid"))?,
            None => proxy_uids.clone(),
        };
        let options = RedirectOptions {
            proxy_uids,
            proxy_gids,
            inbound_ports: parse_port_selection(&self.inbound_ports)
                .map_err(flag("inbound-ports"))?,
            exclude_inbound_ports: parse_ports(&self.exclude_inbound_ports)
                .map_err(flag("exclude-inbound-ports"))?,
            outbound_ports: parse_ports(&self.outbound_ports).map_err(flag("outbound-ports"))?,
            exclude_outbound_ports: parse_ports(&self.exclude_outbound_ports)
                .map_err(flag("exclude-outbound-ports"))?,
            outbound_ip_ranges: parse_ip_ranges(&self.outbound_ip_ranges)
                .map_err(flag("outbound-ip-ranges"))?,
            exclude_outbound_ip_ranges: parse_cidrs(&self.exclude_outbound_ip_ranges)
                .map_err(flag("exclude-outbound-ip-ranges"))?,
            inbound_capture_port: self.inbound_capture_port,
            outbound_capture_port: self.outbound_capture_port,
        };
        Ok(RedirectRequest {
            options,
            ipv6: self.ipv6,
            clean: self.clean,
            dry_run: self.dry_run,
        })
    }
}
