use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::*;
use crate::ca::testing::{TestRoot, authority, csr};
use crate::ca::trust::Usage;

const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";
const HOUR: Duration = Duration::from_secs(3600);

fn web() -> SpiffeId {
    WEB.parse().unwrap()
}

#[test]
fn a_leaf_names_the_proven_identity_only_and_verifies_against_the_root() {
    let root = TestRoot::new();
    let ca = authority(&root, &[], &[&root]);
    let now = SystemTime::now();
    let signed = sign_workload_csr(&ca, &csr(&[WEB]), &web(), HOUR, now).unwrap();
    assert_eq!(signed.info.uris, [WEB]);
    assert!(signed.info.dns_names.is_empty() && signed.info.ip_addresses.is_empty());
    assert_eq!(signed.info.subject, "");
    assert!(!signed.info.is_ca);
    assert_eq!(signed.info.serial.len(), 32, "128 random bits");
    let lifetime = signed
        .info
        .not_after
        .duration_since(signed.info.not_before)
        .unwrap();
    assert_eq!(lifetime, HOUR + BACKDATE);
    assert_eq!(signed.chain.last(), Some(&root.cert), "root last");
    for usage in [Usage::Client, Usage::Server] {
        ca.bundle().verify(&signed.chain, now, usage).unwrap();
    }
    let (_, leaf) = X509Certificate::from_der(&signed.chain[0]).unwrap();
    let ku = leaf.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && ku.key_encipherment() && !ku.key_cert_sign());
    // Two certificates for the same key still differ in serial.
    let again = sign_workload_csr(&ca, &csr(&[WEB]), &web(), HOUR, now).unwrap();
    assert_ne!(again.info.serial, signed.info.serial);
}

#[test]
fn a_csr_for_another_identity_is_refused_saying_which_was_asked_and_proven() {
    let root = TestRoot::new();
    let ca = authority(&root, &[], &[&root]);
    let admin = "spiffe://cluster.local/ns/shop/sa/admin";
    let error =
        sign_workload_csr(&ca, &csr(&[admin]), &web(), HOUR, SystemTime::now()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the CSR asks for {admin} but the caller proved {WEB}; a workload gets a \
             certificate for its own identity only"
        )
    );
    // Its own identity plus another name is still another identity.
    let error = sign_workload_csr(
        &ca,
        &csr(&[WEB, "DNS:api.example.com"]),
        &web(),
        HOUR,
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(error.to_string().contains("DNS:api.example.com"), "{error}");
    let error = sign_workload_csr(&ca, &csr(&[]), &web(), HOUR, SystemTime::now()).unwrap_err();
    assert!(matches!(error, SignError::NoIdentity { .. }), "{error}");
}

#[test]
fn a_csr_whose_signature_does_not_verify_is_refused() {
    let root = TestRoot::new();
    let ca = authority(&root, &[], &[&root]);
    let pem = csr(&[WEB]);
    let mut der = rustls_pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|d: rustls_pki_types::CertificateSigningRequestDer<'_>| d.as_ref().to_vec())
        .unwrap();
    let last = der.len() - 3;
    der[last] ^= 0x55;
    let tampered = crate::ca::trust::pem("CERTIFICATE REQUEST", &der);
    let error = sign_workload_csr(&ca, &tampered, &web(), HOUR, SystemTime::now()).unwrap_err();
    assert_eq!(error, SignError::BadCsrSignature);
    let error = sign_workload_csr(&ca, "hello", &web(), HOUR, SystemTime::now()).unwrap_err();
    assert!(matches!(error, SignError::BadCsr(_)), "{error}");
}

#[test]
fn lifetimes_default_cap_and_floor_as_istio() {
    let policy = LifetimePolicy {
        default: Duration::from_secs(86_400),
        max: Duration::from_secs(90 * 86_400),
    };
    assert_eq!(policy.lifetime(0), Ok(Duration::from_secs(86_400)));
    assert_eq!(policy.lifetime(60), Ok(Duration::from_secs(60)));
    let error = policy.lifetime(91 * 86_400).unwrap_err();
    assert_eq!(
        error.to_string(),
        "requested TTL 7862400s is greater than the max allowed TTL 7776000s; ask for less \
         (or 0 for the default)"
    );
    assert!(matches!(
        policy.lifetime(59),
        Err(SignError::TtlTooShort { .. })
    ));
    assert!(matches!(
        policy.lifetime(-1),
        Err(SignError::TtlTooShort { .. })
    ));
}

#[test]
fn no_leaf_outlives_its_ca() {
    let root = TestRoot::new();
    let intermediate = root.intermediate(); // one day
    let ca = authority(&intermediate, &[&root], &[&root]);
    let signed = sign_workload_csr(
        &ca,
        &csr(&[WEB]),
        &web(),
        Duration::from_secs(30 * 86_400),
        SystemTime::now(),
    )
    .unwrap();
    assert!(signed.info.not_after <= ca.not_after());
}

#[test]
fn the_serving_certificate_names_what_it_is_given_with_a_new_key() {
    let root = TestRoot::new();
    let ca = authority(&root, &[], &[&root]);
    let names = vec![
        SanType::DnsName("mesh-control".try_into().unwrap()),
        SanType::IpAddress([127, 0, 0, 1].into()),
    ];
    let now = SystemTime::now();
    let (signed, _key) = serving_certificate(&ca, names, HOUR, now).unwrap();
    assert_eq!(signed.info.dns_names, ["mesh-control"]);
    assert_eq!(
        signed.info.ip_addresses,
        [std::net::IpAddr::from([127, 0, 0, 1])]
    );
    ca.bundle()
        .verify(&signed.chain, now, Usage::Server)
        .unwrap();
}
