//! A fresh ECDSA P-256 key for each certificate, and a CSR that names our SPIFFE ID
//! and nothing else (empty subject, one URI SAN: Istio's shape).

use mesh_api::identity::SpiffeId;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType, string::Ia5String};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A key that exists only in this process, and the request to certify it.
pub(crate) struct KeyAndCsr {
    pub(crate) key: KeyPair,
    pub(crate) csr_pem: String,
}

impl KeyAndCsr {
    /// Generates the key and signs the CSR with it.
    pub(crate) fn generate(id: &SpiffeId) -> Result<KeyAndCsr, rcgen::Error> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        // rcgen's default subject is a placeholder CN; a workload certificate has none.
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(Ia5String::try_from(id.to_string())?)];
        let csr_pem = params.serialize_request(&key)?.pem()?;
        Ok(KeyAndCsr { key, csr_pem })
    }

    /// The key as rustls takes it.
    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

impl std::fmt::Debug for KeyAndCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAndCsr").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::FromDer;

    use super::*;

    #[test]
    fn the_csr_names_only_our_spiffe_id_and_our_key() {
        let id = SpiffeId::new("cluster.local", "shop", "reviews");
        let request = KeyAndCsr::generate(&id).expect("generates");
        let der = rustls_pki_types::pem::PemObject::from_pem_slice(request.csr_pem.as_bytes())
            .map(|d: rustls_pki_types::CertificateSigningRequestDer<'_>| d.as_ref().to_vec())
            .expect("a PEM CSR");
        let (_, csr) = X509CertificationRequest::from_der(&der).expect("parses");
        csr.verify_signature().expect("signed by its own key");
        let info = &csr.certification_request_info;
        assert_eq!(info.subject.iter_attributes().count(), 0, "empty subject");
        assert_eq!(
            info.subject_pki.subject_public_key.data.as_ref(),
            request.key.public_key_raw()
        );
        let mut names = Vec::new();
        for ext in csr.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                names.extend(san.general_names.iter().map(|n| match n {
                    GeneralName::URI(u) => format!("URI:{u}"),
                    other => format!("{other:?}"),
                }));
            }
        }
        assert_eq!(
            names,
            vec!["URI:spiffe://cluster.local/ns/shop/sa/reviews".to_string()]
        );
        assert_eq!(request.key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
    }
}
