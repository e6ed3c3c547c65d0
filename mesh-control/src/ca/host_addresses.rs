//! The names and addresses the control plane is reached at, for its serving
//! certificate: a proxy that dials an IP verifies it against an IP SAN. For a
//! wildcard bind the host's own addresses are read from `/proc/net` (no syscalls of
//! our own, so no `unsafe`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use rcgen::SanType;

/// The serving certificate's SANs: `extra` (`--tls-san`), the bound address (for
/// `0.0.0.0` or `[::]`: localhost, the loopback and every interface address), and
/// the in-cluster names `mesh-control`, `mesh-control.<ns>.svc`.
pub fn serving_names(bind: SocketAddr, extra: &[String], root_namespace: &str) -> Vec<SanType> {
    let mut dns: BTreeSet<String> = [
        "mesh-control".to_string(),
        format!("mesh-control.{root_namespace}"),
        format!("mesh-control.{root_namespace}.svc"),
        format!("mesh-control.{root_namespace}.svc.cluster.local"),
    ]
    .into();
    let mut ips: BTreeSet<IpAddr> = BTreeSet::new();
    for name in extra.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match name.parse::<IpAddr>() {
            Ok(ip) => {
                ips.insert(ip);
            }
            Err(_) => {
                dns.insert(name.to_ascii_lowercase());
            }
        }
    }
    if bind.ip().is_unspecified() {
        dns.insert("localhost".into());
        ips.extend(host_addresses());
        ips.insert(IpAddr::from([127, 0, 0, 1]));
        ips.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
    } else {
        ips.insert(bind.ip());
    }
    let dns = dns
        .into_iter()
        .filter_map(|name| name.try_into().ok().map(SanType::DnsName));
    dns.chain(ips.into_iter().map(SanType::IpAddress)).collect()
}

/// This host's interface addresses (IPv4 and global-or-ULA IPv6), or none when
/// `/proc` cannot be read.
pub fn host_addresses() -> Vec<IpAddr> {
    let v4 = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    let mut all = ipv4_local_addresses(&v4);
    all.extend(ipv6_addresses(&v6));
    all
}

/// The addresses of `/proc/net/fib_trie` that are the host's own: an address line
/// (`|-- 10.0.0.5`) followed by `/32 host LOCAL`.
fn ipv4_local_addresses(fib_trie: &str) -> Vec<IpAddr> {
    let mut found = BTreeSet::new();
    let mut last: Option<IpAddr> = None;
    for line in fib_trie.lines() {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            last = address.parse().ok();
        } else if line.starts_with("/32 host LOCAL")
            && let Some(ip) = last
        {
            found.insert(ip);
        }
    }
    found.into_iter().collect()
}

/// The addresses of `/proc/net/if_inet6` (`20010db8…0001 02 40 00 80 eth0`), but
/// link-local ones, which a certificate cannot usefully name.
fn ipv6_addresses(if_inet6: &str) -> Vec<IpAddr> {
    if_inet6
        .lines()
        .filter_map(|line| {
            let hex = line.split_whitespace().next()?;
            let value = u128::from_str_radix(hex, 16).ok()?;
            let ip = Ipv6Addr::from(value);
            let link_local = ip.segments()[0] & 0xffc0 == 0xfe80;
            (!link_local).then_some(IpAddr::V6(ip))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.0.0.0/24 2 0 2
        |-- 10.0.0.0
           /24 link UNICAST
        |-- 10.0.0.5
           /32 host LOCAL
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
        |-- 10.0.0.5
           /32 host LOCAL
";

    #[test]
    fn host_addresses_are_read_from_proc() {
        assert_eq!(
            ipv4_local_addresses(FIB_TRIE),
            vec![IpAddr::from([10, 0, 0, 5]), IpAddr::from([127, 0, 0, 1])]
        );
        let if_inet6 = "00000000000000000000000000000001 01 80 10 80       lo\n\
                        fe800000000000000000000000000001 02 40 20 80     eth0\n\
                        fd000000000000000000000000000007 02 40 00 80     eth0\n";
        assert_eq!(
            ipv6_addresses(if_inet6),
            vec![
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                "fd00::7".parse::<IpAddr>().unwrap()
            ]
        );
    }

    #[test]
    fn a_specific_bind_is_named_with_the_extra_names() {
        let names = serving_names(
            "192.0.2.1:15012".parse().unwrap(),
            &["cp.example.com".into(), "198.51.100.2".into()],
            "mesh-system",
        );
        let text: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        let text = text.join(" ");
        for expected in [
            "cp.example.com",
            "mesh-control.mesh-system.svc",
            "192.0.2.1",
            "198.51.100.2",
        ] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(!text.contains("localhost"), "{text}");
    }

    #[test]
    fn a_wildcard_bind_names_localhost_and_the_loopback() {
        let names = serving_names("0.0.0.0:15012".parse().unwrap(), &[], "mesh-system");
        assert!(names.contains(&SanType::IpAddress(IpAddr::from([127, 0, 0, 1]))));
        assert!(
            names
                .iter()
                .any(|n| matches!(n, SanType::DnsName(d) if d.as_str() == "localhost"))
        );
    }
}
