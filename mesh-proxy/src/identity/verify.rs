//! The CA's answer is checked before it replaces anything: the leaf certifies the key
//! this proxy generated, names exactly the identity it asked for, and chains to a
//! root of the trust bundle, valid now and for client authentication.

use std::sync::Arc;
use std::time::SystemTime;

use mesh_api::identity::SpiffeId;
use mesh_tls::{CertificateError, CertificateInfo};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_parser::prelude::FromDer;

/// Why an issued chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum IssuedChainError {
    #[error("the CA's answer is not a PEM chain: {0}")]
    NotPem(String),
    #[error("the leaf is not a certificate: {0}")]
    Malformed(String),
    #[error("the leaf certifies another public key than the one this proxy generated")]
    OtherKey,
    #[error("the leaf names no single workload identity: {0}")]
    NoIdentity(CertificateError),
    #[error("the leaf is for {got}, not for {wanted}")]
    OtherIdentity { got: String, wanted: String },
    #[error(
        "the chain does not verify against the trust bundle (--root-cert) as a client \
         certificate valid now: {0}"
    )]
    Untrusted(String),
}

/// A chain fit to serve: leaf first, without a trailing root the bundle already has.
#[derive(Debug)]
pub(crate) struct IssuedChain {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) info: CertificateInfo,
}

/// Checks `pem_chain` (the CA's answer, leaf first) for `wanted` and the key whose
/// raw public key is `public_key`.
pub(crate) fn verify_issued(
    pem_chain: &[String],
    public_key: &[u8],
    wanted: &SpiffeId,
    roots: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<IssuedChain, IssuedChainError> {
    let mut chain = Vec::new();
    for pem in pem_chain {
        let certificates = mesh_tls::certificates_from_pem(pem.as_bytes(), "the CA's answer")
            .map_err(|e| IssuedChainError::NotPem(e.to_string()))?;
        chain.extend(certificates);
    }
    let Some(leaf) = chain.first() else {
        return Err(IssuedChainError::NotPem("no certificate".into()));
    };
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| IssuedChainError::Malformed(e.to_string()))?;
    if parsed.public_key().subject_public_key.data.as_ref() != public_key {
        return Err(IssuedChainError::OtherKey);
    }
    let info =
        CertificateInfo::parse(leaf).map_err(|e| IssuedChainError::Malformed(e.to_string()))?;
    let got = info.spiffe_id().map_err(IssuedChainError::NoIdentity)?;
    if got != *wanted {
        return Err(IssuedChainError::OtherIdentity {
            got: got.to_string(),
            wanted: wanted.to_string(),
        });
    }
    verify_chain(&chain, roots, now).map_err(IssuedChainError::Untrusted)?;
    // The root is what peers already hold: sending it costs every handshake bytes.
    if chain.len() > 1 && chain.last().is_some_and(|last| roots.contains(last)) {
        chain.pop();
    }
    Ok(IssuedChain { chain, info })
}

fn verify_chain(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
    now: SystemTime,
) -> Result<(), String> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).map_err(|e| e.to_string())?;
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(store), mesh_tls::provider())
            .build()
            .map_err(|e| e.to_string())?;
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|e| e.to_string())?;
    let (leaf, intermediates) = chain.split_first().ok_or("an empty chain")?;
    verifier
        .verify_client_cert(leaf, intermediates, UnixTime::since_unix_epoch(since_epoch))
        .map(|_| ())
        .map_err(|e| e.to_string())
}
