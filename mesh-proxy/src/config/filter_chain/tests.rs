//! Envoy's filter chain matching: order of criteria, most specific wins, no
//! backtracking, and the refusal of overlapping chains.

use std::net::SocketAddr;

use super::*;

fn conn(destination: &str) -> ConnectionInfo {
    ConnectionInfo {
        destination: destination.parse().expect("address"),
        source: "10.0.0.9:40000".parse().expect("address"),
        server_name: None,
        transport_protocol: RAW_BUFFER.into(),
        application_protocols: Vec::new(),
    }
}

fn cidr(s: &str) -> CidrRange {
    let (ip, len) = s.split_once('/').expect("a/len");
    CidrRange::new(ip.parse().expect("ip"), len.parse().expect("len"))
}

fn pick(chains: &[FilterChainMatch], c: &ConnectionInfo) -> Option<usize> {
    select(&chains.iter().collect::<Vec<_>>(), c)
}

#[test]
fn destination_port_beats_a_more_specific_ip_and_does_not_backtrack() {
    let chains = [
        FilterChainMatch {
            prefix_ranges: vec![cidr("10.96.0.50/32")],
            ..Default::default()
        },
        FilterChainMatch {
            destination_port: Some(9080),
            server_names: vec!["a.example".into()],
            ..Default::default()
        },
    ];
    // Port 9080 selects the port branch; its server name fails; no fallback to 0.
    assert_eq!(pick(&chains, &conn("10.96.0.50:9080")), None);
    assert_eq!(pick(&chains, &conn("10.96.0.50:9090")), Some(0));
}

#[test]
fn longest_destination_prefix_wins_and_empty_ranges_are_the_fallback() {
    let chains = [
        FilterChainMatch::default(),
        FilterChainMatch {
            prefix_ranges: vec![cidr("10.0.0.0/8")],
            ..Default::default()
        },
        FilterChainMatch {
            prefix_ranges: vec![cidr("10.96.0.0/16"), cidr("192.168.0.0/16")],
            ..Default::default()
        },
    ];
    assert_eq!(pick(&chains, &conn("10.96.1.1:80")), Some(2));
    assert_eq!(pick(&chains, &conn("10.1.1.1:80")), Some(1));
    assert_eq!(pick(&chains, &conn("172.16.0.1:80")), Some(0));
    assert_eq!(pick(&chains, &conn("[::ffff:10.96.1.1]:80")), Some(2));
}

#[test]
fn server_names_exact_then_longest_wildcard_then_any() {
    let chains = [
        FilterChainMatch {
            transport_protocol: "tls".into(),
            ..Default::default()
        },
        FilterChainMatch {
            server_names: vec!["*.example.com".into()],
            ..Default::default()
        },
        FilterChainMatch {
            server_names: vec!["*.b.example.com".into()],
            ..Default::default()
        },
        FilterChainMatch {
            server_names: vec!["www.b.example.com".into()],
            ..Default::default()
        },
    ];
    let with_sni = |sni: &str| ConnectionInfo {
        server_name: Some(sni.into()),
        transport_protocol: "tls".into(),
        ..conn("1.2.3.4:443")
    };
    assert_eq!(pick(&chains, &with_sni("www.b.example.com")), Some(3));
    assert_eq!(pick(&chains, &with_sni("api.b.example.com")), Some(2));
    assert_eq!(pick(&chains, &with_sni("x.y.example.com")), Some(1));
    assert_eq!(pick(&chains, &with_sni("example.com")), Some(0));
    assert_eq!(
        pick(&chains, &conn("1.2.3.4:443")),
        None,
        "raw_buffer, no SNI"
    );
}

#[test]
fn sniffed_http_goes_to_the_http_chain_and_anything_else_to_tcp() {
    // The shape the translator emits for a port without a declared protocol.
    let vip = vec![cidr("10.96.0.60/32")];
    let chains = [
        FilterChainMatch {
            prefix_ranges: vip.clone(),
            application_protocols: vec!["http/1.0".into(), "http/1.1".into(), "h2c".into()],
            ..Default::default()
        },
        FilterChainMatch {
            prefix_ranges: vip,
            ..Default::default()
        },
    ];
    let with = |p: &[&str]| ConnectionInfo {
        application_protocols: p.iter().map(|s| s.to_string()).collect(),
        ..conn("10.96.0.60:7000")
    };
    assert_eq!(pick(&chains, &with(&["http/1.1"])), Some(0));
    assert_eq!(pick(&chains, &with(&["h2c"])), Some(0));
    assert_eq!(pick(&chains, &with(&[])), Some(1));
    assert_eq!(pick(&chains, &with(&["redis"])), Some(1));
}

#[test]
fn the_first_application_protocol_some_chain_names_wins() {
    let chains = [
        FilterChainMatch {
            application_protocols: vec!["http/1.1".into()],
            ..Default::default()
        },
        FilterChainMatch {
            application_protocols: vec!["h2".into()],
            ..Default::default()
        },
    ];
    let alpn = ConnectionInfo {
        application_protocols: vec!["h3".into(), "h2".into(), "http/1.1".into()],
        ..conn("1.2.3.4:443")
    };
    assert_eq!(pick(&chains, &alpn), Some(1));
}

#[test]
fn source_criteria_come_last_in_envoys_order() {
    let local = FilterChainMatch {
        source_type: SourceType::SameIpOrLoopback,
        ..Default::default()
    };
    let by_port = FilterChainMatch {
        source_ports: vec![40000],
        source_prefix_ranges: vec![cidr("10.0.0.0/24")],
        ..Default::default()
    };
    let chains = [local, by_port, FilterChainMatch::default()];
    assert_eq!(pick(&chains, &conn("10.0.0.1:80")), Some(1));
    let loopback = ConnectionInfo {
        source: "127.0.0.1:40000".parse::<SocketAddr>().expect("address"),
        ..conn("10.0.0.1:80")
    };
    assert_eq!(pick(&chains, &loopback), Some(0));
}

#[test]
fn overlapping_chains_are_refused_distinct_ones_accepted() {
    let a = FilterChainMatch {
        server_names: vec!["a".into(), "b".into()],
        ..Default::default()
    };
    let b = FilterChainMatch {
        server_names: vec!["b".into()],
        ..Default::default()
    };
    let c = FilterChainMatch {
        server_names: vec!["c".into()],
        ..Default::default()
    };
    let err = check_distinct(&[("one", &a), ("two", &b)]).expect_err("b is in both");
    assert!(err.contains("\"one\"") && err.contains("\"two\""), "{err}");
    check_distinct(&[
        ("one", &a),
        ("three", &c),
        ("any", &FilterChainMatch::default()),
    ])
    .expect("distinct");
}

#[test]
fn cidr_ranges_clear_host_bits() {
    assert_eq!(cidr("10.1.2.3/8"), cidr("10.0.0.0/8"));
    assert!(cidr("10.1.2.3/8").contains("10.200.0.1".parse().expect("ip")));
    assert!(!cidr("10.0.0.0/8").contains("11.0.0.1".parse().expect("ip")));
    assert!(cidr("::/0").contains("fd00::1".parse().expect("ip")));
    assert!(!cidr("::/0").contains("10.0.0.1".parse().expect("ip")));
}
