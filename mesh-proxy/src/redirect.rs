//! `mesh-proxy redirect`: the nat rules Istio's `istio-iptables` (the `istio-init`
//! container) installs in every pod, so that the app's TCP traffic goes through the
//! proxy without the app knowing: inbound to 15006 (`ISTIO_INBOUND` →
//! `ISTIO_IN_REDIRECT`), outbound to 15001 (`ISTIO_OUTPUT` → `ISTIO_REDIRECT`), the
//! proxy's own uid/gid exempt so that its upstream connections do not loop back.
//!
//! The rules are a pure function of the options and the table's current state
//! ([`rules`]); [`apply`] is the thin shell that reads the state and runs one
//! `iptables-restore --noflush` transaction per address family.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

mod apply;
mod args;
mod rules;

pub use apply::{Ipv6Mode, RedirectError, RedirectRequest, has_global_ipv6, run};
pub use args::RedirectArgs;
pub use rules::{Family, NatState, clean, install};

/// Istio's HBONE tunnel port: never captured inbound, never redirected back to self
/// (kept so that the rules are Istio's, line for line).
pub const INBOUND_TUNNEL_PORT: u16 = 15008;

/// The proxy's own ports, never captured inbound: Istio's injector passes
/// `-d 15090,15021,15020`; admin and the two capture ports are added, since a
/// connection to them from outside would otherwise loop through 15006.
pub const PROXY_PORTS: [u16; 6] = [15090, 15021, 15020, 15000, 15001, 15006];

/// What to capture and what to leave alone (Istio's `istio-iptables` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectOptions {
    /// Users whose traffic is never redirected (the proxy's, 1337).
    pub proxy_uids: Vec<u32>,
    /// Groups whose traffic is never redirected.
    pub proxy_gids: Vec<u32>,
    /// Inbound destination ports captured to the inbound capture port.
    pub inbound_ports: PortSelection,
    /// With `inbound_ports: All`, the ports left alone (besides [`PROXY_PORTS`]).
    pub exclude_inbound_ports: Vec<u16>,
    /// Outbound destination ports always captured, whatever the address.
    pub outbound_ports: Vec<u16>,
    /// Outbound destination ports never captured.
    pub exclude_outbound_ports: Vec<u16>,
    /// Outbound destinations captured to the outbound capture port.
    pub outbound_ip_ranges: IpRanges,
    /// Outbound destinations never captured.
    pub exclude_outbound_ip_ranges: Vec<Cidr>,
    /// Where inbound connections go (`virtualInbound`, 15006).
    pub inbound_capture_port: u16,
    /// Where outbound connections go (`virtualOutbound`, 15001).
    pub outbound_capture_port: u16,
}

impl Default for RedirectOptions {
    /// Istio's sidecar defaults: everything captured both ways, 1337 exempt.
    fn default() -> Self {
        RedirectOptions {
            proxy_uids: vec![1337],
            proxy_gids: vec![1337],
            inbound_ports: PortSelection::All,
            exclude_inbound_ports: Vec::new(),
            outbound_ports: Vec::new(),
            exclude_outbound_ports: Vec::new(),
            outbound_ip_ranges: IpRanges::All,
            exclude_outbound_ip_ranges: Vec::new(),
            inbound_capture_port: 15006,
            outbound_capture_port: 15001,
        }
    }
}

/// `*` (every port), or a list; an empty list captures nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSelection {
    All,
    Only(Vec<u16>),
}

/// `*` (every destination), or a list of CIDRs; an empty list captures nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRanges {
    All,
    Only(Vec<Cidr>),
}

/// An address range, printed as its network address (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub address: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn is_ipv4(&self) -> bool {
        self.address.is_ipv4()
    }

    pub fn is_loopback(&self) -> bool {
        self.address.is_loopback()
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a CIDR; write it as 10.0.0.0/8 or fd00::/8");
        let (address, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let address: IpAddr = address.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let address = match address {
            IpAddr::V4(a) if prefix <= 32 => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from((u32::from(a) & mask).to_be_bytes())
            }
            IpAddr::V6(a) if prefix <= 128 => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::from((u128::from(a) & mask).to_be_bytes())
            }
            _ => return Err(bad()),
        };
        Ok(Cidr { address, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// A comma-separated list of ports (`22,80`); empty means none.
pub fn parse_ports(s: &str) -> Result<Vec<u16>, String> {
    split(s)
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("`{p}` is not a port; write ports as 22,80,443"))
        })
        .collect()
}

/// `*`, or a comma-separated list of ports.
pub fn parse_port_selection(s: &str) -> Result<PortSelection, String> {
    if s.trim() == "*" {
        return Ok(PortSelection::All);
    }
    parse_ports(s).map(PortSelection::Only)
}

/// A comma-separated list of CIDRs; empty means none.
pub fn parse_cidrs(s: &str) -> Result<Vec<Cidr>, String> {
    split(s).map(str::parse).collect()
}

/// `*`, or a comma-separated list of CIDRs.
pub fn parse_ip_ranges(s: &str) -> Result<IpRanges, String> {
    if s.trim() == "*" {
        return Ok(IpRanges::All);
    }
    parse_cidrs(s).map(IpRanges::Only)
}

/// A comma-separated list of numeric user or group ids.
pub fn parse_ids(s: &str) -> Result<Vec<u32>, String> {
    split(s)
        .map(|id| {
            id.parse::<u32>()
                .map_err(|_| format!("`{id}` is not a numeric id; write ids as 1337 or 1337,1338"))
        })
        .collect()
}

fn split(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests;
