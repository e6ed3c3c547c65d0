use super::*;

fn header(name: &str, terminal: bool) -> HashPolicy {
    HashPolicy {
        kind: HashPolicyKind::Header { name: name.into() },
        terminal,
    }
}

#[test]
fn header_hash_is_xxhash64_of_the_value() {
    let request = RequestAttributes {
        headers: &[("X-User", "foo")],
        ..Default::default()
    };
    let hash = generate_hash(&[header("x-user", false)], &request).hash;
    assert_eq!(hash, Some(3_728_699_739_546_630_719));
}

#[test]
fn repeated_header_values_hash_the_same_in_any_order() {
    let a = RequestAttributes {
        headers: &[("x-k", "foo"), ("x-k", "bar")],
        ..Default::default()
    };
    let b = RequestAttributes {
        headers: &[("x-k", "bar"), ("x-k", "foo")],
        ..Default::default()
    };
    let policies = [header("x-k", false)];
    let expected = xxh64(b"foo", xxh64(b"bar", 0));
    assert_eq!(generate_hash(&policies, &a).hash, Some(expected));
    assert_eq!(generate_hash(&policies, &b).hash, Some(expected));
}

#[test]
fn policies_combine_by_rotate_and_xor() {
    let request = RequestAttributes {
        headers: &[("a", "foo"), ("b", "bar")],
        ..Default::default()
    };
    let hash = generate_hash(&[header("a", false), header("b", false)], &request).hash;
    let expected = xxh64(b"foo", 0).rotate_left(1) ^ xxh64(b"bar", 0);
    assert_eq!(hash, Some(expected));
}

#[test]
fn terminal_policy_stops_once_a_hash_exists() {
    let request = RequestAttributes {
        headers: &[("a", "foo"), ("b", "bar")],
        ..Default::default()
    };
    // "missing" yields nothing, so its terminal flag does not stop the walk.
    let policies = [
        header("missing", true),
        header("a", true),
        header("b", false),
    ];
    assert_eq!(
        generate_hash(&policies, &request).hash,
        Some(xxh64(b"foo", 0))
    );
}

#[test]
fn no_matching_policy_yields_no_hash() {
    let request = RequestAttributes::default();
    assert_eq!(generate_hash(&[header("a", false)], &request).hash, None);
}

#[test]
fn source_ip_hashes_the_address_without_port() {
    let request = RequestAttributes {
        remote_address: Some("10.1.2.3:5555".parse().expect("addr")),
        ..Default::default()
    };
    let policy = HashPolicy {
        kind: HashPolicyKind::SourceIp,
        terminal: false,
    };
    assert_eq!(
        generate_hash(&[policy], &request).hash,
        Some(xxh64(b"10.1.2.3", 0))
    );
}

#[test]
fn query_parameter_hashes_the_first_raw_value() {
    let request = RequestAttributes {
        path: "/p?x=1&user=a%20b&user=c",
        ..Default::default()
    };
    let policy = HashPolicy {
        kind: HashPolicyKind::QueryParameter {
            name: "user".into(),
        },
        terminal: false,
    };
    assert_eq!(
        generate_hash(&[policy], &request).hash,
        Some(xxh64(b"a%20b", 0))
    );
}

#[test]
fn cookie_hashes_its_value_and_mints_one_when_absent_with_ttl() {
    let policy = HashPolicy {
        kind: HashPolicyKind::Cookie {
            name: "session".into(),
            ttl: Some(Duration::from_secs(60)),
            path: "/".into(),
        },
        terminal: false,
    };
    let with_cookie = RequestAttributes {
        headers: &[("cookie", "a=1; session=\"abc\"")],
        ..Default::default()
    };
    let out = generate_hash(std::slice::from_ref(&policy), &with_cookie);
    assert_eq!(out.hash, Some(xxh64(b"abc", 0)));
    assert_eq!(out.set_cookie, None);

    let without = RequestAttributes {
        remote_address: Some("10.0.0.1:4000".parse().expect("addr")),
        local_address: Some("10.0.0.2:80".parse().expect("addr")),
        ..Default::default()
    };
    let out = generate_hash(&[policy], &without);
    let minted = out.set_cookie.expect("minted cookie");
    let expected = format!("{:016x}", xxh64(b"10.0.0.1:400010.0.0.2:80", 0));
    assert_eq!(minted.value, expected);
    assert_eq!(out.hash, Some(xxh64(expected.as_bytes(), 0)));
}
