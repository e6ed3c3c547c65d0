//! Golden rules derived from Istio's `tools/istio-iptables/pkg/capture/testdata/*.golden`
//! (the `nat` section of each; the test names say which). Our one addition: the
//! proxy's own ports are excluded from inbound capture (Istio's injector passes them
//! as `-d 15090,15021,15020`).

use super::*;

const HEAD: &str = "*nat
:ISTIO_INBOUND - [0:0]
:ISTIO_REDIRECT - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
";

const COMMON: &str = "-A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
";

const PROXY_PORTS_RETURN: &str =
    "-A ISTIO_INBOUND -p tcp -m multiport --dports 15090,15021,15020,15000,15001,15006 -j RETURN\n";

/// The owner rules for uid and gid 1337, as in every Istio golden.
const OWNER_1337: &str = "-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
";

fn v4(options: &RedirectOptions) -> String {
    install(options, Family::V4, &NatState::default())
}

/// Istio's injector defaults (`-i '*' -b '*'`): inbound-ports-wildcard.golden plus
/// the catch-all outbound redirect.
#[test]
fn defaults_are_istio_sidecar_rules() {
    let expected = format!(
        "{HEAD}{COMMON}-A PREROUTING -p tcp -j ISTIO_INBOUND
{PROXY_PORTS_RETURN}-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
{OWNER_1337}-A ISTIO_OUTPUT -j ISTIO_REDIRECT
COMMIT
"
    );
    assert_eq!(v4(&RedirectOptions::default()), expected);
}

/// inbound-wildcard-exclude.golden.
#[test]
fn excluded_inbound_ports_return_before_the_capture() {
    let options = RedirectOptions {
        exclude_inbound_ports: vec![22, 80, 443],
        outbound_ip_ranges: IpRanges::Only(vec![]),
        ..RedirectOptions::default()
    };
    let expected = format!(
        "{HEAD}{COMMON}-A PREROUTING -p tcp -j ISTIO_INBOUND
{PROXY_PORTS_RETURN}-A ISTIO_INBOUND -p tcp -m multiport --dports 22,80,443 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
{OWNER_1337}COMMIT
"
    );
    assert_eq!(v4(&options), expected);
}

/// inbound-ports-include.golden.
#[test]
fn listed_inbound_ports_are_the_only_ones_captured() {
    let options = RedirectOptions {
        inbound_ports: PortSelection::Only(vec![32000, 31000]),
        outbound_ip_ranges: IpRanges::Only(vec![]),
        ..RedirectOptions::default()
    };
    let expected = format!(
        "{HEAD}{COMMON}-A PREROUTING -p tcp -j ISTIO_INBOUND
-A ISTIO_INBOUND -p tcp --dport 32000 -j ISTIO_IN_REDIRECT
-A ISTIO_INBOUND -p tcp --dport 31000 -j ISTIO_IN_REDIRECT
-A OUTPUT -j ISTIO_OUTPUT
{OWNER_1337}COMMIT
"
    );
    assert_eq!(v4(&options), expected);
}

/// outbound-ports-exclude-single.golden and outbound-ports-include.golden.
#[test]
fn outbound_port_exclusions_come_first_and_inclusions_last() {
    let options = RedirectOptions {
        inbound_ports: PortSelection::Only(vec![]),
        exclude_outbound_ports: vec![22],
        outbound_ports: vec![32000, 31000],
        outbound_ip_ranges: IpRanges::Only(vec![]),
        ..RedirectOptions::default()
    };
    let expected = format!(
        "{HEAD}{COMMON}-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_OUTPUT -p tcp --dport 22 -j RETURN
-A ISTIO_OUTPUT -p udp --dport 22 -j RETURN
{OWNER_1337}-A ISTIO_OUTPUT -p tcp --dport 32000 -j ISTIO_REDIRECT
-A ISTIO_OUTPUT -p tcp --dport 31000 -j ISTIO_REDIRECT
COMMIT
"
    );
    assert_eq!(v4(&options), expected);
}

/// ip-range.golden (uids 3,4 and gids 1,2; exclude 1.1.0.0/16, include 9.9.0.0/16;
/// its DNS rules are not ours).
#[test]
fn outbound_ranges_with_several_owners() {
    let options = RedirectOptions {
        proxy_uids: vec![3, 4],
        proxy_gids: vec![1, 2],
        inbound_ports: PortSelection::Only(vec![]),
        outbound_ip_ranges: IpRanges::Only(vec!["9.9.0.0/16".parse().expect("cidr")]),
        exclude_outbound_ip_ranges: vec!["1.1.0.0/16".parse().expect("cidr")],
        ..RedirectOptions::default()
    };
    let mut owners = String::from("-A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN\n");
    for (flag, id) in [("uid", 3), ("uid", 4), ("gid", 1), ("gid", 2)] {
        owners.push_str(&format!(
            "-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --{flag}-owner {id} -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -o lo -m owner ! --{flag}-owner {id} -j RETURN
-A ISTIO_OUTPUT -m owner --{flag}-owner {id} -j RETURN
"
        ));
    }
    let expected = format!(
        "{HEAD}{COMMON}-A OUTPUT -j ISTIO_OUTPUT
{owners}-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -d 1.1.0.0/16 -j RETURN
-A ISTIO_OUTPUT -d 9.9.0.0/16 -j ISTIO_REDIRECT
COMMIT
"
    );
    assert_eq!(v4(&options), expected);
}

/// loopback-outbound-iprange.golden: an included loopback range drops the
/// "app to itself over lo is not captured" rules.
#[test]
fn included_loopback_range_captures_app_to_self_traffic() {
    let options = RedirectOptions {
        outbound_ip_ranges: IpRanges::Only(vec!["127.1.2.3/32".parse().expect("cidr")]),
        ..RedirectOptions::default()
    };
    let rules = v4(&options);
    assert!(!rules.contains("-o lo -m owner ! --uid-owner"), "{rules}");
    assert!(!rules.contains("-o lo -m owner ! --gid-owner"), "{rules}");
    assert!(rules.contains("-A ISTIO_OUTPUT -d 127.1.2.3/32 -j ISTIO_REDIRECT\n"));
}

/// ipv6-inbound-ports.golden (the ip6tables half).
#[test]
fn ipv6_rules_use_ipv6_loopback_and_only_ipv6_ranges() {
    let options = RedirectOptions {
        outbound_ip_ranges: IpRanges::Only(vec![
            "10.0.0.0/8".parse().expect("cidr"),
            "fd00::/8".parse().expect("cidr"),
        ]),
        exclude_outbound_ip_ranges: vec!["192.168.0.0/16".parse().expect("cidr")],
        ..RedirectOptions::default()
    };
    let rules = install(&options, Family::V6, &NatState::default());
    assert!(rules.contains("-A ISTIO_OUTPUT -o lo -s ::6/128 -j RETURN\n"));
    assert!(rules.contains(
        "-A ISTIO_OUTPUT -o lo ! -d ::1/128 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT\n"
    ));
    assert!(rules.contains("-A ISTIO_OUTPUT -d ::1/128 -j RETURN\n"));
    assert!(rules.contains("-A ISTIO_OUTPUT -d fd00::/8 -j ISTIO_REDIRECT\n"));
    assert!(
        !rules.contains("10.0.0.0") && !rules.contains("192.168"),
        "{rules}"
    );
}

/// What `iptables -t nat -S` shows after one run.
const AFTER_ONE_RUN: &str = "-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N ISTIO_INBOUND
-N ISTIO_IN_REDIRECT
-N ISTIO_OUTPUT
-N ISTIO_REDIRECT
-N KUBE-SERVICES
-A PREROUTING -j KUBE-SERVICES
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp -m tcp --dport 15008 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
";

#[test]
fn state_lists_our_chains_and_the_jumps_into_them() {
    let state = NatState::parse(AFTER_ONE_RUN);
    let chains: Vec<&str> = state.chains.iter().map(String::as_str).collect();
    assert_eq!(
        chains,
        [
            "ISTIO_INBOUND",
            "ISTIO_IN_REDIRECT",
            "ISTIO_OUTPUT",
            "ISTIO_REDIRECT"
        ]
    );
    assert_eq!(
        state.jumps,
        [
            "PREROUTING -p tcp -j ISTIO_INBOUND",
            "OUTPUT -j ISTIO_OUTPUT"
        ]
    );
    let saved = NatState::parse(":ISTIO_OUTPUT - [0:0]\n:OTHER - [0:0]\n");
    assert!(saved.chains.contains("ISTIO_OUTPUT") && saved.chains.len() == 1);
}

#[test]
fn rerun_deletes_the_previous_jumps_before_adding_them_again() {
    let rules = install(
        &RedirectOptions::default(),
        Family::V4,
        &NatState::parse(AFTER_ONE_RUN),
    );
    let body = rules.strip_prefix(HEAD).expect("chains declared first");
    assert!(body.starts_with("-D PREROUTING -p tcp -j ISTIO_INBOUND\n-D OUTPUT -j ISTIO_OUTPUT\n"));
    assert_eq!(rules.matches("-A PREROUTING").count(), 1);
    assert_eq!(rules.matches("-A OUTPUT").count(), 1);
    assert!(
        !rules.contains("KUBE-SERVICES"),
        "others' rules are left alone"
    );
}

#[test]
fn clean_removes_jumps_then_empties_and_deletes_chains() {
    let expected = "*nat
-D PREROUTING -p tcp -j ISTIO_INBOUND
-D OUTPUT -j ISTIO_OUTPUT
-F ISTIO_INBOUND
-F ISTIO_IN_REDIRECT
-F ISTIO_OUTPUT
-F ISTIO_REDIRECT
-X ISTIO_INBOUND
-X ISTIO_IN_REDIRECT
-X ISTIO_OUTPUT
-X ISTIO_REDIRECT
COMMIT
";
    assert_eq!(
        clean(&NatState::parse(AFTER_ONE_RUN)).as_deref(),
        Some(expected)
    );
    assert_eq!(clean(&NatState::default()), None);
}

#[test]
fn more_than_15_excluded_ports_are_split_for_multiport() {
    let options = RedirectOptions {
        exclude_inbound_ports: (1..=16).collect(),
        ..RedirectOptions::default()
    };
    let rules = v4(&options);
    assert!(rules.contains("--dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -j RETURN\n"));
    assert!(rules.contains("-A ISTIO_INBOUND -p tcp --dport 16 -j RETURN\n"));
}

#[test]
fn flag_values_parse_as_istio_writes_them() {
    assert_eq!(parse_port_selection("*"), Ok(PortSelection::All));
    assert_eq!(parse_port_selection(""), Ok(PortSelection::Only(vec![])));
    assert_eq!(parse_ports("22, 80,"), Ok(vec![22, 80]));
    assert_eq!(parse_ids("1337,1338"), Ok(vec![1337, 1338]));
    assert_eq!(parse_ip_ranges("*"), Ok(IpRanges::All));
    let cidrs = parse_cidrs("10.1.2.3/8,fd00::1/8").expect("cidrs");
    let shown: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "fd00::/8"]);
    let err = parse_ports("22,ssh").expect_err("not a port");
    assert!(err.contains("`ssh`"), "{err}");
    assert!(
        parse_cidrs("10.0.0.1").is_err(),
        "a CIDR needs its prefix length"
    );
    assert!(parse_cidrs("10.0.0.0/33").is_err());
}

#[test]
fn ipv6_is_detected_from_non_loopback_non_link_local_addresses() {
    let lo = "00000000000000000000000000000001 01 80 10 80       lo\n";
    let link_local = "fe800000000000000000000000000001 02 40 20 80     eth0\n";
    let global = "20010db8000000000000000000000001 02 40 00 80     eth0\n";
    assert!(!has_global_ipv6(""));
    assert!(!has_global_ipv6(&format!("{lo}{link_local}")));
    assert!(has_global_ipv6(&format!("{lo}{link_local}{global}")));
}
