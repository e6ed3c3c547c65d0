//! Virtual IPs for Services that have none. Kubernetes gives every Service that is
//! not headless a ClusterIP; in universal mode a Service may leave `spec.clusterIP`
//! out, and the control plane allocates one, as the API server would, from
//! Kubernetes' default service range.
//!
//! The allocation is a pure function of the Services: each one hashes its hostname
//! to a slot of the range and takes the next free slot from there, in hostname
//! order, after every explicit address is reserved. A Service keeps its VIP across
//! restarts and config changes unless another one collides with it first (one
//! chance in about a million per pair).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Kubernetes' default `--service-cluster-ip-range`.
pub const SERVICE_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 12);

/// Picks a VIP for each of `hostnames` (sorted, distinct) that none of `taken` uses.
/// Returns them in the order of `hostnames`; `None` once the range is full.
pub fn allocate<'a>(
    hostnames: impl IntoIterator<Item = &'a str>,
    taken: impl IntoIterator<Item = Ipv4Addr>,
) -> Vec<Option<Ipv4Addr>> {
    let (base, prefix) = SERVICE_RANGE;
    let base = u32::from(base);
    // The network and broadcast addresses are never handed out.
    let slots = (1u32 << (32 - prefix)) - 2;
    let mut used: BTreeSet<u32> = taken
        .into_iter()
        .map(u32::from)
        .filter(|ip| (base + 1..=base + slots).contains(ip))
        .map(|ip| ip - base - 1)
        .collect();
    hostnames
        .into_iter()
        .map(|hostname| {
            if used.len() >= slots as usize {
                return None;
            }
            let mut slot = fnv1a(hostname) % slots;
            while used.contains(&slot) {
                slot = (slot + 1) % slots;
            }
            used.insert(slot);
            Some(Ipv4Addr::from(base + 1 + slot))
        })
        .collect()
}

/// FNV-1a: stable across Rust releases and platforms, unlike std's hashers.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_range(ip: Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        a == 10 && (96..112).contains(&b)
    }

    #[test]
    fn each_service_gets_a_distinct_stable_address_in_the_service_range() {
        let hosts = ["a.ns.svc.cluster.local", "b.ns.svc.cluster.local"];
        let first = allocate(hosts, []);
        let [Some(a), Some(b)] = first[..] else {
            panic!("{first:?}")
        };
        assert!(in_range(a) && in_range(b) && a != b, "{a} {b}");
        assert_eq!(allocate(hosts, []), first, "same input, same addresses");
        // Another service elsewhere in the mesh does not move them (no collision here).
        let more = allocate(["a.ns.svc.cluster.local", "c.other.svc.cluster.local"], []);
        assert_eq!(more[0], Some(a));
    }

    #[test]
    fn taken_addresses_are_skipped() {
        let [Some(free)] = allocate(["web.shop.svc.cluster.local"], [])[..] else {
            panic!()
        };
        let again = allocate(["web.shop.svc.cluster.local"], [free]);
        assert_ne!(again[0], Some(free));
        assert!(again[0].is_some_and(in_range));
    }

    #[test]
    fn hashes_are_fnv1a() {
        // Reference values of 32-bit FNV-1a.
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
    }
}
