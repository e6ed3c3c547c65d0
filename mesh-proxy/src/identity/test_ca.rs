//! An in-memory CA for the unit tests of the identity, the agent and the admin
//! pages: a self-signed root that signs CSRs as mesh-control's CA does (one URI SAN,
//! EKU serverAuth+clientAuth), or certificates for keys it makes itself.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use mesh_api::identity::SpiffeId;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;

use super::WorkloadCertificate;
use super::csr::KeyAndCsr;

/// A root CA.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) root: CertificateDer<'static>,
    pub(crate) root_pem: String,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = params.self_signed(&key).expect("self-signs");
        TestCa {
            root: root.der().clone(),
            root_pem: root.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The root in a PEM file of its own (what `--root-cert` names).
    pub(crate) fn root_file(&self) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mesh-proxy-test-root-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, &self.root_pem).expect("writes the root");
        path
    }

    /// Signs `csr_pem` for `not_before..not_after`; `uri` replaces the SAN asked for.
    pub(crate) fn sign_csr(
        &self,
        csr_pem: &str,
        not_before: SystemTime,
        not_after: SystemTime,
        uri: Option<&str>,
    ) -> String {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).expect("a CSR");
        // rcgen's time type, without naming the `time` crate.
        let at = |t: SystemTime| {
            rcgen::date_time_ymd(1970, 1, 1)
                + t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
        };
        csr.params.not_before = at(not_before);
        csr.params.not_after = at(not_after);
        csr.params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        csr.params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        if let Some(uri) = uri {
            csr.params.subject_alt_names = vec![SanType::URI(uri.try_into().expect("ia5"))];
        }
        csr.signed_by(&self.issuer).expect("signs").pem()
    }

    /// A certificate for `id`, valid from a minute ago for `ttl`, as the identity
    /// manager would publish it.
    pub(crate) fn workload_certificate(&self, id: &SpiffeId, ttl: Duration) -> WorkloadCertificate {
        let request = KeyAndCsr::generate(id).expect("a CSR");
        let now = SystemTime::now();
        let leaf = self.sign_csr(
            &request.csr_pem,
            now - Duration::from_secs(60),
            now + ttl,
            None,
        );
        let chain = mesh_tls::certificates_from_pem(leaf.as_bytes(), "leaf").expect("PEM");
        WorkloadCertificate {
            identity: id.clone(),
            info: mesh_tls::CertificateInfo::parse(&chain[0]).expect("parses"),
            chain,
            key: request.private_key(),
            roots: vec![self.root.clone()],
        }
    }
}
