//! Envoy's filter chain matching, as a pure function: which chain of a listener takes
//! a connection, given what the listener filters learnt about it.
//!
//! Envoy walks the criteria in a fixed order (destination port, destination IP,
//! server name, transport protocol, application protocols, direct source IP, source
//! type, source IP, source port). At each step the most specific value that matches
//! wins and the chains without that criterion are only the fallback; there is no
//! backtracking to a less specific branch when a later step fails.

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::core::v3::CidrRange as CidrRangeProto;
use envoy_types::pb::envoy::config::listener::v3::{FilterChainMatch as Proto, filter_chain_match};
use serde::Serialize;

use super::error::FieldError;

#[cfg(test)]
mod tests;

/// Envoy's default transport protocol when no listener filter set one.
pub const RAW_BUFFER: &str = "raw_buffer";

/// A chain's `filter_chain_match`, checked and normalized.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FilterChainMatch {
    pub destination_port: Option<u16>,
    pub prefix_ranges: Vec<CidrRange>,
    pub server_names: Vec<String>,
    pub transport_protocol: String,
    pub application_protocols: Vec<String>,
    pub direct_source_prefix_ranges: Vec<CidrRange>,
    pub source_type: SourceType,
    pub source_prefix_ranges: Vec<CidrRange>,
    pub source_ports: Vec<u16>,
}

/// An IP prefix, with the host bits cleared as Envoy's trie stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CidrRange {
    pub address: IpAddr,
    pub len: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    #[default]
    Any,
    SameIpOrLoopback,
    External,
}

/// What is known of a connection when its filter chain is chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The local address, or the original destination where a listener restored it.
    pub destination: SocketAddr,
    pub source: SocketAddr,
    /// SNI from the TLS inspector.
    pub server_name: Option<String>,
    /// `tls` from the TLS inspector, else [`RAW_BUFFER`].
    pub transport_protocol: String,
    /// ALPN from the TLS inspector, or `http/1.1`, `http/1.0`, `h2c` from the HTTP
    /// inspector, in the order reported.
    pub application_protocols: Vec<String>,
}

impl CidrRange {
    pub fn new(address: IpAddr, len: u8) -> CidrRange {
        let len = len.min(if address.is_ipv4() { 32 } else { 128 });
        let address = match address {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        CidrRange { address, len }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 connection on a dual-stack socket shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.address.is_ipv4() && CidrRange::new(ip, self.len) == *self
    }
}

/// Converts a `filter_chain_match`; an error names the field.
pub fn build_filter_chain_match(m: &Proto) -> Result<FilterChainMatch, FieldError> {
    if !m.address_suffix.is_empty() || m.suffix_len.is_some() {
        return Err("address_suffix/suffix_len: not supported (Envoy ignores them too)".into());
    }
    let port = |p: u32| u16::try_from(p).map_err(|_| format!("port {p} out of range"));
    let source_type = match filter_chain_match::ConnectionSourceType::try_from(m.source_type) {
        Ok(filter_chain_match::ConnectionSourceType::Any) => SourceType::Any,
        Ok(filter_chain_match::ConnectionSourceType::SameIpOrLoopback) => {
            SourceType::SameIpOrLoopback
        }
        Ok(filter_chain_match::ConnectionSourceType::External) => SourceType::External,
        Err(_) => return Err(format!("source_type {} unknown", m.source_type).into()),
    };
    Ok(FilterChainMatch {
        destination_port: m
            .destination_port
            .as_ref()
            .map(|p| port(p.value))
            .transpose()?
            .filter(|p| *p != 0),
        prefix_ranges: cidr_ranges(&m.prefix_ranges, "prefix_ranges")?,
        server_names: m.server_names.clone(),
        transport_protocol: m.transport_protocol.clone(),
        application_protocols: m.application_protocols.clone(),
        direct_source_prefix_ranges: cidr_ranges(
            &m.direct_source_prefix_ranges,
            "direct_source_prefix_ranges",
        )?,
        source_type,
        source_prefix_ranges: cidr_ranges(&m.source_prefix_ranges, "source_prefix_ranges")?,
        source_ports: m
            .source_ports
            .iter()
            .map(|p| port(*p))
            .collect::<Result<_, String>>()?,
    })
}

fn cidr_ranges(ranges: &[CidrRangeProto], field: &str) -> Result<Vec<CidrRange>, String> {
    ranges
        .iter()
        .map(|r| {
            let address: IpAddr = r
                .address_prefix
                .parse()
                .map_err(|_| format!("{field}: {:?} is not an IP address", r.address_prefix))?;
            let full = if address.is_ipv4() { 32 } else { 128 };
            let len = r.prefix_len.as_ref().map_or(full, |l| l.value);
            if len > full {
                return Err(format!("{field}: prefix length {len} for {address}"));
            }
            Ok(CidrRange::new(address, u8::try_from(len).unwrap_or(0)))
        })
        .collect()
}

/// Envoy refuses a listener in which two chains match the same connections; so does
/// this. `matches` are the listener's chains in order, with their names.
pub fn check_distinct(matches: &[(&str, &FilterChainMatch)]) -> Result<(), FieldError> {
    for (i, (a_name, a)) in matches.iter().enumerate() {
        for (b_name, b) in &matches[..i] {
            if overlap(a, b) {
                return Err(format!(
                    "filter chains {b_name:?} and {a_name:?}: multiple filter chains with the same matching rules are defined"
                )
                .into());
            }
        }
    }
    Ok(())
}

/// Whether some connection would reach the same leaf of Envoy's matching tree for
/// both: at every level, the two value sets (empty meaning "any") share a value.
fn overlap(a: &FilterChainMatch, b: &FilterChainMatch) -> bool {
    fn shares<T: PartialEq>(a: &[T], b: &[T]) -> bool {
        (a.is_empty() && b.is_empty()) || a.iter().any(|x| b.contains(x))
    }
    a.destination_port == b.destination_port
        && shares(&a.prefix_ranges, &b.prefix_ranges)
        && shares(&a.server_names, &b.server_names)
        && a.transport_protocol == b.transport_protocol
        && shares(&a.application_protocols, &b.application_protocols)
        && shares(
            &a.direct_source_prefix_ranges,
            &b.direct_source_prefix_ranges,
        )
        && a.source_type == b.source_type
        && shares(&a.source_prefix_ranges, &b.source_prefix_ranges)
        && shares(&a.source_ports, &b.source_ports)
}

/// The index of the chain that takes the connection, or `None` (then the listener's
/// default chain, if any, takes it; else Envoy closes the connection).
pub fn select(chains: &[&FilterChainMatch], conn: &ConnectionInfo) -> Option<usize> {
    let mut candidates: Vec<usize> = (0..chains.len()).collect();
    let port = conn.destination.port();
    narrow(&mut candidates, chains, |m| match m.destination_port {
        None => Some(0),
        Some(p) => (p == port).then_some(1),
    });
    narrow(&mut candidates, chains, |m| {
        longest_prefix(&m.prefix_ranges, conn.destination.ip())
    });
    let server_name = conn.server_name.as_deref().unwrap_or("");
    narrow(&mut candidates, chains, |m| {
        server_name_rank(&m.server_names, server_name)
    });
    narrow(&mut candidates, chains, |m| {
        if m.transport_protocol.is_empty() {
            Some(0)
        } else {
            (m.transport_protocol == conn.transport_protocol).then_some(1)
        }
    });
    narrow(&mut candidates, chains, |m| {
        application_protocol_rank(&m.application_protocols, &conn.application_protocols)
    });
    narrow(&mut candidates, chains, |m| {
        longest_prefix(&m.direct_source_prefix_ranges, conn.source.ip())
    });
    let local = conn.source.ip().is_loopback() || conn.source.ip() == conn.destination.ip();
    narrow(&mut candidates, chains, |m| match m.source_type {
        SourceType::Any => Some(0),
        SourceType::SameIpOrLoopback => local.then_some(1),
        SourceType::External => (!local).then_some(1),
    });
    narrow(&mut candidates, chains, |m| {
        longest_prefix(&m.source_prefix_ranges, conn.source.ip())
    });
    narrow(&mut candidates, chains, |m| {
        if m.source_ports.is_empty() {
            Some(0)
        } else {
            m.source_ports.contains(&conn.source.port()).then_some(1)
        }
    });
    candidates.first().copied()
}

/// Keeps the candidates whose rank at one level is the highest; `None` means the chain
/// does not match at this level. Rank 0 is "no requirement" (the fallback branch).
fn narrow(
    candidates: &mut Vec<usize>,
    chains: &[&FilterChainMatch],
    rank: impl Fn(&FilterChainMatch) -> Option<u32>,
) {
    let ranks: Vec<Option<u32>> = candidates.iter().map(|&i| rank(chains[i])).collect();
    let best = ranks.iter().flatten().max().copied();
    let mut ranks = ranks.into_iter();
    candidates.retain(|_| best.is_some() && ranks.next().flatten() == best);
}

/// Envoy's destination/source IP trie: the longest matching prefix; no ranges is the
/// catch-all (rank 0, below a /0 which ranks 1).
fn longest_prefix(ranges: &[CidrRange], ip: IpAddr) -> Option<u32> {
    if ranges.is_empty() {
        return Some(0);
    }
    ranges
        .iter()
        .filter(|r| r.contains(ip))
        .map(|r| u32::from(r.len) + 1)
        .max()
}

/// Exact name, then the longest `*.suffix` wildcard, then no requirement.
fn server_name_rank(names: &[String], server_name: &str) -> Option<u32> {
    if names.is_empty() {
        return Some(0);
    }
    if server_name.is_empty() {
        return None;
    }
    if names.iter().any(|n| n == server_name) {
        return Some(u32::MAX);
    }
    // Longer suffixes are more specific: rank by the suffix length.
    names
        .iter()
        .filter_map(|n| n.strip_prefix('*'))
        .filter(|suffix| {
            suffix.starts_with('.')
                && suffix.len() > 1
                && server_name.len() > suffix.len()
                && server_name.ends_with(suffix)
        })
        .map(|suffix| u32::try_from(suffix.len()).unwrap_or(u32::MAX - 1))
        .max()
}

/// The first of the connection's protocols some chain names wins; chains naming none
/// of them lose to it, and chains without the criterion are the fallback.
fn application_protocol_rank(chain: &[String], conn: &[String]) -> Option<u32> {
    if chain.is_empty() {
        return Some(0);
    }
    conn.iter()
        .position(|p| chain.contains(p))
        .map(|i| u32::MAX - u32::try_from(i).unwrap_or(u32::MAX - 1))
}
