//! PEM in, DER out, with errors that say what was expected and what was found.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why PEM text gave no certificate or key.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{what}: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { what: String },
    #[error("{what}: no PEM private key found (expected PKCS#8, SEC1 or PKCS#1)")]
    NoKey { what: String },
    #[error("{what}: malformed PEM: {reason}")]
    Malformed { what: String, reason: String },
}

/// Every certificate in `pem`, in order; `what` names the source in errors (a file
/// path, `the CA's response`).
pub fn certificates_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Malformed {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(PemError::NoCertificate {
            what: what.to_string(),
        });
    }
    Ok(certificates)
}

/// The first private key in `pem`.
pub fn private_key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, PemError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => PemError::NoKey {
            what: what.to_string(),
        },
        e => PemError::Malformed {
            what: what.to_string(),
            reason: e.to_string(),
        },
    })
}
