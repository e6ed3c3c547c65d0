//! The trust bundle: every root in `root-cert.pem`. Several roots may be trusted at
//! once, which is how a root is replaced without an outage (docs/security.md).

use std::time::SystemTime;

use rustls_pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};

/// The roots a chain must lead to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustBundle {
    roots: Vec<CertificateDer<'static>>,
}

/// What a chain is verified for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A client certificate (EKU clientAuth).
    Client,
    /// A server certificate (EKU serverAuth).
    Server,
}

/// Why a chain is not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    #[error("the chain is empty")]
    Empty,
    #[error("root {index} of the trust bundle is not a usable root certificate: {reason}")]
    BadRoot { index: usize, reason: String },
    #[error("the certificate does not lead to a trusted root: {0}")]
    Untrusted(String),
}

impl TrustBundle {
    pub fn new(roots: Vec<CertificateDer<'static>>) -> TrustBundle {
        TrustBundle { roots }
    }

    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The roots as PEM, in order (what `root-cert.pem` holds).
    pub fn pem(&self) -> String {
        self.roots.iter().map(|r| pem("CERTIFICATE", r)).collect()
    }

    /// Verifies `chain` (leaf first, then intermediates, in any order) at `now`.
    pub fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: SystemTime,
        usage: Usage,
    ) -> Result<(), TrustError> {
        let [leaf, intermediates @ ..] = chain else {
            return Err(TrustError::Empty);
        };
        let anchors = self
            .roots
            .iter()
            .enumerate()
            .map(|(index, root)| {
                anchor_from_trusted_cert(root).map_err(|e| TrustError::BadRoot {
                    index,
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = EndEntityCert::try_from(leaf)
            .map_err(|e| TrustError::Untrusted(format!("unreadable leaf: {e}")))?;
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let usage = match usage {
            Usage::Client => KeyUsage::client_auth(),
            Usage::Server => KeyUsage::server_auth(),
        };
        leaf.verify_for_usage(
            mesh_tls::provider().signature_verification_algorithms.all,
            &anchors,
            intermediates,
            UnixTime::since_unix_epoch(since_epoch),
            usage,
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| TrustError::Untrusted(describe(&e)))
    }
}

/// webpki's error, in words an operator can act on.
fn describe(error: &webpki::Error) -> String {
    match error {
        webpki::Error::UnknownIssuer => {
            "its issuer is not in the trust bundle (root-cert.pem), nor in the chain".into()
        }
        webpki::Error::CertExpired { .. } => format!("a certificate has expired ({error:?})"),
        webpki::Error::CertNotValidYet { .. } => {
            format!("a certificate is not valid yet ({error:?}); check the clocks")
        }
        webpki::Error::InvalidSignatureForPublicKey => {
            "a signature does not verify with its issuer's key".into()
        }
        other => format!("{other:?}"),
    }
}

/// PEM text of one DER object.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
