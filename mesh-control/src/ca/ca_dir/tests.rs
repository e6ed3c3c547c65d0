use std::os::unix::fs::PermissionsExt as _;

use super::*;
use crate::ca::testing::TestRoot;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_empty_directory_gets_a_root_with_private_keys_and_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("cacerts");
    let now = SystemTime::now();
    let first = open(&ca_dir, "cluster.local", CaKeyType::EcdsaP256, now).unwrap();
    assert!(first.created_root);
    for name in [CA_CERT, CERT_CHAIN, ROOT_CERT] {
        assert!(ca_dir.join(name).exists(), "{name}");
    }
    assert_eq!(mode(&ca_dir.join(CA_KEY)), 0o600);
    assert_eq!(mode(&ca_dir.join(TOKEN_KEY)), 0o600);
    let again = open(&ca_dir, "cluster.local", CaKeyType::EcdsaP256, now).unwrap();
    assert!(!again.created_root);
    assert_eq!(again.authority.chain(), first.authority.chain());
}

#[test]
fn a_plugged_in_ca_is_used_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let root = TestRoot::new();
    let intermediate = root.intermediate();
    fs::write(dir.path().join(CA_CERT), intermediate.pem()).unwrap();
    fs::write(dir.path().join(CA_KEY), intermediate.key.serialize_pem()).unwrap();
    fs::write(
        dir.path().join(CERT_CHAIN),
        intermediate.pem() + &root.pem(),
    )
    .unwrap();
    fs::write(dir.path().join(ROOT_CERT), root.pem()).unwrap();
    let opened = open(
        dir.path(),
        "cluster.local",
        CaKeyType::EcdsaP256,
        SystemTime::now(),
    )
    .unwrap();
    assert!(!opened.created_root);
    assert_eq!(opened.authority.chain()[0], intermediate.cert);
}

#[test]
fn a_partial_directory_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let root = TestRoot::new();
    fs::write(dir.path().join(CA_CERT), root.pem()).unwrap();
    let error = open(
        dir.path(),
        "cluster.local",
        CaKeyType::EcdsaP256,
        SystemTime::now(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("holds ca-cert.pem but not ca-key.pem, root-cert.pem"),
        "{error}"
    );
}

#[test]
fn an_rsa_root_is_generated_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let opened = open(
        dir.path(),
        "cluster.local",
        CaKeyType::Rsa2048,
        SystemTime::now(),
    )
    .unwrap();
    assert!(opened.created_root);
    let key = fs::read_to_string(dir.path().join(CA_KEY)).unwrap();
    let reread = crate::ca::key::from_pem(key.as_bytes(), "ca-key.pem").unwrap();
    assert!(reread.is_compatible(&rcgen::PKCS_RSA_SHA256), "an RSA key");
}

#[test]
fn an_rsa_key_placed_alone_makes_an_rsa_root() {
    let dir = tempfile::tempdir().unwrap();
    // PKCS#1 (`BEGIN RSA PRIVATE KEY`), as `openssl genrsa -traditional` and older
    // Istio samples write it; a test key, made for this test only.
    let pkcs1 = include_str!("../testdata/rsa-2048-pkcs1.pem");
    fs::write(dir.path().join(CA_KEY), pkcs1).unwrap();
    let now = SystemTime::now();
    let opened = open(dir.path(), "cluster.local", CaKeyType::Rsa2048, now).unwrap();
    assert!(opened.created_root);
    let identity = "spiffe://cluster.local/ns/shop/sa/web".parse().unwrap();
    let signed = crate::ca::sign::sign_workload_csr(
        &opened.authority,
        &crate::ca::testing::csr(&["spiffe://cluster.local/ns/shop/sa/web"]),
        &identity,
        Duration::from_secs(3600),
        now,
    )
    .unwrap();
    let usage = crate::ca::trust::Usage::Client;
    opened
        .authority
        .bundle()
        .verify(&signed.chain, now, usage)
        .unwrap();
    // The key the operator placed is kept as it was.
    assert_eq!(fs::read_to_string(dir.path().join(CA_KEY)).unwrap(), pkcs1);
}
