//! CAs, keys and CSRs for the CA's unit tests.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;

use super::authority::{Authority, CaFiles, self_signed_root};
use super::trust::pem;
use super::{CertificateAuthority, LifetimePolicy, TokenKey};

/// A root and its key, as PEM.
pub(crate) struct TestRoot {
    pub(crate) key: KeyPair,
    pub(crate) cert: CertificateDer<'static>,
}

impl TestRoot {
    pub(crate) fn new() -> TestRoot {
        let key = KeyPair::generate().unwrap();
        let cert = self_signed_root(&key, "cluster.local", SystemTime::now()).unwrap();
        TestRoot { key, cert }
    }

    pub(crate) fn pem(&self) -> String {
        pem("CERTIFICATE", &self.cert)
    }

    /// An intermediate CA under this root.
    pub(crate) fn intermediate(&self) -> TestRoot {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Istio");
        dn.push(DnType::CommonName, "Intermediate CA");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_after = super::clock::offset(SystemTime::now() + Duration::from_secs(86_400));
        let issuer = Issuer::from_ca_cert_der(&self.cert, &self.key).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap().der().clone();
        TestRoot { key, cert }
    }
}

/// The CA of `signer` (a root, or an intermediate with `chain` to the root),
/// trusting `roots`.
pub(crate) fn authority(signer: &TestRoot, chain: &[&TestRoot], roots: &[&TestRoot]) -> Authority {
    try_authority(signer, chain, roots).unwrap()
}

pub(crate) fn try_authority(
    signer: &TestRoot,
    chain: &[&TestRoot],
    roots: &[&TestRoot],
) -> Result<Authority, super::authority::AuthorityError> {
    let ca_cert = signer.pem();
    let ca_key = signer.key.serialize_pem();
    let chain: String = chain.iter().map(|c| c.pem()).collect();
    let roots: String = roots.iter().map(|r| r.pem()).collect();
    Authority::from_files(
        CaFiles {
            ca_cert: ca_cert.as_bytes(),
            ca_key: ca_key.as_bytes(),
            cert_chain: (!chain.is_empty()).then_some(chain.as_bytes()),
            root_cert: roots.as_bytes(),
            dir: "ca/",
        },
        SystemTime::now(),
    )
}

/// A CA with a new self-signed root, 24 h certificates by default, at most 90 days.
pub(crate) fn test_ca() -> CertificateAuthority {
    let root = TestRoot::new();
    CertificateAuthority::new(
        authority(&root, &[], &[&root]),
        TokenKey::generate().unwrap().0,
        "cluster.local",
        LifetimePolicy {
            default: Duration::from_secs(24 * 3600),
            max: Duration::from_secs(90 * 24 * 3600),
        },
    )
}

/// A CSR (PEM) with a new key, naming `sans` (URIs, or `DNS:` names).
pub(crate) fn csr(sans: &[&str]) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.strip_prefix("DNS:") {
            Some(dns) => SanType::DnsName(dns.try_into().unwrap()),
            None => SanType::URI((*s).try_into().unwrap()),
        })
        .collect();
    params.serialize_request(&key).unwrap().pem().unwrap()
}
