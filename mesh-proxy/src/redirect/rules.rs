//! The `iptables-restore` input: Istio's nat rules for one address family, in the
//! order `istio-iptables` appends them (tools/istio-iptables/pkg/capture/run.go).
//!
//! Idempotent by construction: each of our chains is declared (`:CHAIN - [0:0]`),
//! which under `--noflush` creates it or empties it, and the jumps from the built-in
//! chains that a previous run left are deleted before being added again, all in one
//! transaction.

use std::collections::BTreeSet;

use super::{Cidr, INBOUND_TUNNEL_PORT, IpRanges, PROXY_PORTS, PortSelection, RedirectOptions};

const ISTIO_INBOUND: &str = "ISTIO_INBOUND";
const ISTIO_REDIRECT: &str = "ISTIO_REDIRECT";
const ISTIO_IN_REDIRECT: &str = "ISTIO_IN_REDIRECT";
const ISTIO_OUTPUT: &str = "ISTIO_OUTPUT";

/// Our chains, in Istio's order of creation.
const CHAINS: [&str; 4] = [
    ISTIO_INBOUND,
    ISTIO_REDIRECT,
    ISTIO_IN_REDIRECT,
    ISTIO_OUTPUT,
];

/// iptables' `multiport` match takes at most 15 ports.
const MULTIPORT_MAX: usize = 15;

/// The address family a rule set is for (`iptables` or `ip6tables`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Envoy-aware apps and container-to-container traffic use this (Istio's
    /// `HostIPv4LoopbackCidr`).
    fn loopback(self) -> &'static str {
        match self {
            Family::V4 => "127.0.0.1/32",
            Family::V6 => "::1/128",
        }
    }

    /// The source address of the proxy's inbound passthrough connections.
    fn passthrough_source(self) -> &'static str {
        match self {
            Family::V4 => "127.0.0.6/32",
            Family::V6 => "::6/128",
        }
    }

    fn includes(self, cidr: &Cidr) -> bool {
        cidr.is_ipv4() == (self == Family::V4)
    }
}

/// What of ours is in the nat table now, from `iptables -t nat -S`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatState {
    /// Our chains that exist.
    pub chains: BTreeSet<String>,
    /// Rules of the built-in chains that jump to ours, as `CHAIN args…` (the `-A`
    /// stripped), in table order.
    pub jumps: Vec<String>,
}

impl NatState {
    /// Reads `iptables -t nat -S` (or `iptables-save -t nat`) output.
    pub fn parse(listing: &str) -> NatState {
        let mut state = NatState::default();
        for line in listing.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                // `-N CHAIN` (iptables -S) or `:CHAIN - [0:0]` (iptables-save).
                ["-N", chain, ..] if CHAINS.contains(chain) => {
                    state.chains.insert((*chain).to_string());
                }
                [declared, ..]
                    if declared
                        .strip_prefix(':')
                        .is_some_and(|c| CHAINS.contains(&c)) =>
                {
                    state.chains.insert(declared[1..].to_string());
                }
                ["-A", chain, rest @ ..] if !CHAINS.contains(chain) => {
                    let target = rest.windows(2).find(|w| w[0] == "-j").map(|w| w[1]);
                    if target.is_some_and(|t| CHAINS.contains(&t)) {
                        state.jumps.push(words[1..].join(" "));
                    }
                }
                _ => {}
            }
        }
        state
    }

    pub fn is_empty(&self) -> bool {
        self.chains.is_empty() && self.jumps.is_empty()
    }
}

/// The transaction that installs the rules of `options` for `family`, replacing what
/// a previous run left (`current`).
pub fn install(options: &RedirectOptions, family: Family, current: &NatState) -> String {
    let mut out = String::from("*nat\n");
    for chain in CHAINS {
        out.push_str(&format!(":{chain} - [0:0]\n"));
    }
    for jump in &current.jumps {
        out.push_str(&format!("-D {jump}\n"));
    }
    for rule in rules(options, family) {
        out.push_str(&format!("-A {rule}\n"));
    }
    out.push_str("COMMIT\n");
    out
}

/// The transaction that removes our jumps and chains, or `None` when none are there.
pub fn clean(current: &NatState) -> Option<String> {
    if current.is_empty() {
        return None;
    }
    let mut out = String::from("*nat\n");
    for jump in &current.jumps {
        out.push_str(&format!("-D {jump}\n"));
    }
    // Emptied first: ISTIO_INBOUND and ISTIO_OUTPUT refer to the redirect chains.
    for chain in &current.chains {
        out.push_str(&format!("-F {chain}\n"));
    }
    for chain in &current.chains {
        out.push_str(&format!("-X {chain}\n"));
    }
    out.push_str("COMMIT\n");
    Some(out)
}

/// Istio's nat rules, as `CHAIN args…`, in the order they are appended.
fn rules(o: &RedirectOptions, family: Family) -> Vec<String> {
    let mut r = Vec::new();
    let tunnel = INBOUND_TUNNEL_PORT;
    r.push(format!("{ISTIO_INBOUND} -p tcp --dport {tunnel} -j RETURN"));
    r.push(format!(
        "{ISTIO_REDIRECT} -p tcp -j REDIRECT --to-ports {}",
        o.outbound_capture_port
    ));
    r.push(format!(
        "{ISTIO_IN_REDIRECT} -p tcp -j REDIRECT --to-ports {}",
        o.inbound_capture_port
    ));

    // Inbound: every port but the excluded ones, or only the listed ones.
    match &o.inbound_ports {
        PortSelection::Only(ports) if ports.is_empty() => {}
        PortSelection::Only(ports) => {
            r.push(format!("PREROUTING -p tcp -j {ISTIO_INBOUND}"));
            for port in ports {
                r.push(format!(
                    "{ISTIO_INBOUND} -p tcp --dport {port} -j {ISTIO_IN_REDIRECT}"
                ));
            }
        }
        PortSelection::All => {
            r.push(format!("PREROUTING -p tcp -j {ISTIO_INBOUND}"));
            for ports in [&PROXY_PORTS[..], &o.exclude_inbound_ports] {
                for m in port_matches(ports) {
                    r.push(format!("{ISTIO_INBOUND} -p tcp {m} -j RETURN"));
                }
            }
            r.push(format!("{ISTIO_INBOUND} -p tcp -j {ISTIO_IN_REDIRECT}"));
        }
    }

    // Outbound. Port exclusions come before the redirect of calls back to self.
    r.push(format!("OUTPUT -j {ISTIO_OUTPUT}"));
    for m in port_matches(&o.exclude_outbound_ports) {
        r.push(format!("{ISTIO_OUTPUT} -p tcp {m} -j RETURN"));
        r.push(format!("{ISTIO_OUTPUT} -p udp {m} -j RETURN"));
    }
    r.push(format!(
        "{ISTIO_OUTPUT} -o lo -s {} -j RETURN",
        family.passthrough_source()
    ));
    // An explicitly included loopback range means app-to-self traffic is wanted too.
    let include_loopback =
        matches!(&o.outbound_ip_ranges, IpRanges::Only(c) if c.iter().any(Cidr::is_loopback));
    let owners = o
        .proxy_uids
        .iter()
        .map(|id| ("--uid-owner", id))
        .chain(o.proxy_gids.iter().map(|id| ("--gid-owner", id)));
    for (owner, id) in owners {
        // App → own service VIP → proxy (client side) → lo → proxy (server side) → app.
        r.push(format!(
            "{ISTIO_OUTPUT} -o lo ! -d {} -p tcp ! --dport {tunnel} -m owner {owner} {id} -j {ISTIO_IN_REDIRECT}",
            family.loopback()
        ));
        // App → itself by its own address: not through the proxy.
        if !include_loopback {
            r.push(format!(
                "{ISTIO_OUTPUT} -o lo -m owner ! {owner} {id} -j RETURN"
            ));
        }
        // The proxy's own connections must never come back to it.
        r.push(format!("{ISTIO_OUTPUT} -m owner {owner} {id} -j RETURN"));
    }
    r.push(format!("{ISTIO_OUTPUT} -d {} -j RETURN", family.loopback()));
    for cidr in o
        .exclude_outbound_ip_ranges
        .iter()
        .filter(|c| family.includes(c))
    {
        r.push(format!("{ISTIO_OUTPUT} -d {cidr} -j RETURN"));
    }
    for port in &o.outbound_ports {
        r.push(format!(
            "{ISTIO_OUTPUT} -p tcp --dport {port} -j {ISTIO_REDIRECT}"
        ));
    }
    match &o.outbound_ip_ranges {
        IpRanges::All => r.push(format!("{ISTIO_OUTPUT} -j {ISTIO_REDIRECT}")),
        IpRanges::Only(cidrs) => {
            for cidr in cidrs.iter().filter(|c| family.includes(c)) {
                r.push(format!("{ISTIO_OUTPUT} -d {cidr} -j {ISTIO_REDIRECT}"));
            }
        }
    }
    r
}

/// `--dport P` for one port, `-m multiport --dports P,Q` for more (in groups of 15).
fn port_matches(ports: &[u16]) -> Vec<String> {
    match ports {
        [] => Vec::new(),
        [port] => vec![format!("--dport {port}")],
        _ => ports
            .chunks(MULTIPORT_MAX)
            .map(|chunk| match chunk {
                [port] => format!("--dport {port}"),
                _ => {
                    let list: Vec<String> = chunk.iter().map(u16::to_string).collect();
                    format!("-m multiport --dports {}", list.join(","))
                }
            })
            .collect(),
    }
}
