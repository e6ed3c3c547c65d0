use std::time::SystemTime;

use mesh_api::identity::SpiffeId;

use super::*;
use crate::ca::sign::sign_workload_csr;
use crate::ca::testing::{TestRoot, authority, csr, try_authority};

const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";

/// A workload chain (leaf first) from `ca`.
fn leaf(ca: &Authority) -> Vec<CertificateDer<'static>> {
    let identity: SpiffeId = WEB.parse().unwrap();
    sign_workload_csr(
        ca,
        &csr(&[WEB]),
        &identity,
        Duration::from_secs(3600),
        SystemTime::now(),
    )
    .unwrap()
    .chain
}

fn trusted(bundle: &TrustBundle, chain: &[CertificateDer<'static>]) -> bool {
    bundle
        .verify(chain, SystemTime::now(), Usage::Client)
        .is_ok()
}

#[test]
fn a_self_signed_root_is_its_own_chain_with_istios_subject() {
    let root = TestRoot::new();
    let ca = authority(&root, &[], &[&root]);
    assert_eq!(ca.chain(), std::slice::from_ref(&root.cert));
    let info = mesh_tls::CertificateInfo::parse(&root.cert).unwrap();
    assert_eq!(info.subject, "O=cluster.local");
    assert!(info.is_ca);
    let chain = leaf(&ca);
    assert_eq!(chain.len(), 2);
    assert!(trusted(ca.bundle(), &chain));
}

#[test]
fn a_plugged_in_intermediate_chains_to_the_offline_root() {
    let root = TestRoot::new();
    let intermediate = root.intermediate();
    // Istio's cert-chain.pem: the intermediate, then the root.
    let ca = authority(&intermediate, &[&intermediate, &root], &[&root]);
    assert_eq!(ca.chain(), [intermediate.cert.clone(), root.cert.clone()]);
    let chain = leaf(&ca);
    assert_eq!(chain.len(), 3, "leaf, intermediate, root");
    assert!(trusted(ca.bundle(), &chain));
    // Without cert-chain.pem the root is found in root-cert.pem.
    let ca = authority(&intermediate, &[], &[&root]);
    assert_eq!(ca.chain(), [intermediate.cert.clone(), root.cert.clone()]);
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_naming_the_files() {
    let root = TestRoot::new();
    let other = TestRoot::new();
    let mixed = TestRoot {
        key: KeyPair::from_pem(&other.key.serialize_pem()).unwrap(),
        cert: root.cert.clone(),
    };
    let error = try_authority(&mixed, &[], &[&root]).unwrap_err();
    assert!(
        matches!(error, AuthorityError::KeyMismatch { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(
        text.contains("ca/ca-key.pem does not match ca/ca-cert.pem"),
        "{text}"
    );
}

#[test]
fn a_ca_that_does_not_chain_to_the_bundle_is_refused_saying_what_to_put_where() {
    let root = TestRoot::new();
    let intermediate = root.intermediate();
    let stranger = TestRoot::new();
    let error = try_authority(&intermediate, &[], &[&stranger]).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, AuthorityError::Untrusted { .. }), "{text}");
    assert!(text.contains("ca/ca-cert.pem does not chain to a root in ca/root-cert.pem"));
    assert!(text.contains("cert-chain.pem"), "{text}");
}

#[test]
fn a_leaf_as_ca_cert_is_refused() {
    let root = TestRoot::new();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::ExplicitNoCa;
    let issuer = Issuer::from_ca_cert_der(&root.cert, &root.key).unwrap();
    let not_a_ca = TestRoot {
        cert: params.signed_by(&key, &issuer).unwrap().der().clone(),
        key,
    };
    let error = try_authority(&not_a_ca, &[], &[&root]).unwrap_err();
    assert!(matches!(error, AuthorityError::NotCa { .. }), "{error}");
}

/// The rotation procedure of docs/security.md, step by step: a workload keeps
/// working across it as long as each step has reached every proxy before the next.
#[test]
fn a_root_is_replaced_without_an_outage() {
    let old = TestRoot::new();
    let new = TestRoot::new();

    // Before: the old root signs and is the only one trusted.
    let before = authority(&old, &[], &[&old]);
    let old_leaf = leaf(&before);

    // Step 1: trust both roots, still signing with the old one.
    let both_trusted = authority(&old, &[], &[&old, &new]);
    assert!(trusted(both_trusted.bundle(), &old_leaf));

    // Step 2: sign with the new root; the old root's certificates still verify.
    let switched = authority(&new, &[], &[&old, &new]);
    let new_leaf = leaf(&switched);
    assert!(trusted(switched.bundle(), &old_leaf));
    assert!(trusted(switched.bundle(), &new_leaf));
    // Why step 1 comes first: a proxy still on the old bundle refuses the new leaves.
    assert!(!trusted(before.bundle(), &new_leaf));

    // Step 3, once every old certificate has been renewed: drop the old root.
    let after = authority(&new, &[], &[&new]);
    assert!(!trusted(after.bundle(), &old_leaf));
    assert!(trusted(after.bundle(), &new_leaf));
}
