//! Verifying the peer as Envoy's `CertificateValidationContext` says: the chain
//! must lead to a trusted root (the workload's trust bundle, or a file), and, when
//! `match_subject_alt_names` is set, one SAN of the leaf (URI, DNS or IP, as Envoy
//! matches them) must match one matcher. Envoy checks no host name beyond that, so
//! neither does this: a SPIFFE certificate names a workload, not a host.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::material::RootsSource;
use crate::config::SanMatcher;

/// A `match_subject_alt_names` entry, compiled.
#[derive(Debug, Clone)]
pub(super) enum SanPattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(regex::Regex),
}

impl SanPattern {
    pub(super) fn compile(m: &SanMatcher) -> Result<SanPattern, String> {
        Ok(match m {
            SanMatcher::Exact(v) => SanPattern::Exact(v.clone()),
            SanMatcher::Prefix(v) => SanPattern::Prefix(v.clone()),
            SanMatcher::Suffix(v) => SanPattern::Suffix(v.clone()),
            SanMatcher::Contains(v) => SanPattern::Contains(v.clone()),
            // Envoy's safe_regex matches the whole value.
            SanMatcher::Regex(r) => SanPattern::Regex(
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| format!("SAN regex {r:?}: {e}"))?,
            ),
        })
    }

    fn matches(&self, san: &str) -> bool {
        match self {
            SanPattern::Exact(v) => san == v,
            SanPattern::Prefix(v) => san.starts_with(v.as_str()),
            SanPattern::Suffix(v) => san.ends_with(v.as_str()),
            SanPattern::Contains(v) => san.contains(v.as_str()),
            SanPattern::Regex(r) => r.is_match(san),
        }
    }
}

/// Verifies peers (servers when the proxy connects, clients when it accepts).
#[derive(Debug)]
pub(super) struct PeerVerifier {
    /// `None`: any certificate is accepted (no validation context).
    roots: Option<RootsSource>,
    sans: Vec<SanPattern>,
    /// Server side: a client without a certificate is refused.
    require_client_certificate: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerVerifier {
    pub(super) fn new(
        roots: Option<RootsSource>,
        sans: Vec<SanPattern>,
        require_client_certificate: bool,
    ) -> PeerVerifier {
        PeerVerifier {
            roots,
            sans,
            require_client_certificate,
            algorithms: mesh_tls::provider().signature_verification_algorithms,
        }
    }

    /// The chain to a trusted root, for `usage`, then the SAN matchers.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: webpki::KeyUsage,
    ) -> Result<(), Error> {
        let Some(roots) = &self.roots else {
            return Ok(());
        };
        let Some(store) = roots.current() else {
            return Err(Error::General(
                "no trust bundle yet: the workload has no certificate from the CA".into(),
            ));
        };
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|e| Error::InvalidCertificate(pki_error(e)))?;
        cert.verify_for_usage(
            self.algorithms.all,
            &store.roots,
            intermediates,
            now,
            usage,
            None,
            None,
        )
        .map_err(|e| Error::InvalidCertificate(pki_error(e)))?;
        if self.sans.is_empty() {
            return Ok(());
        }
        let info = mesh_tls::CertificateInfo::parse(&end_entity.clone().into_owned())
            .map_err(|e| Error::InvalidCertificate(other(e)))?;
        let names = info
            .uris
            .iter()
            .cloned()
            .chain(info.dns_names.iter().cloned())
            .chain(info.ip_addresses.iter().map(ToString::to_string));
        let mut seen = Vec::new();
        for name in names {
            if self.sans.iter().any(|p| p.matches(&name)) {
                return Ok(());
            }
            seen.push(name);
        }
        Err(Error::InvalidCertificate(other(format!(
            "no SAN of the peer's certificate ({}) is one the config accepts",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        ))))
    }
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.verify(
            end_entity,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        self.roots.is_some() || self.require_client_certificate
    }

    fn client_auth_mandatory(&self) -> bool {
        self.require_client_certificate
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Istio's sidecars send no hints; the client has one certificate anyway.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.verify(
            end_entity,
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
        )?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// webpki's reasons as rustls's certificate errors (which become TLS alerts).
fn pki_error(e: webpki::Error) -> CertificateError {
    use webpki::Error as E;
    match e {
        E::BadDer | E::BadDerTime => CertificateError::BadEncoding,
        E::CertExpired { .. } => CertificateError::Expired,
        E::CertNotValidYet { .. } => CertificateError::NotValidYet,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        e => other(e.to_string()),
    }
}

fn other(e: impl ToString) -> CertificateError {
    CertificateError::Other(rustls::OtherError(Arc::new(VerifyError(e.to_string()))))
}

#[derive(Debug)]
struct VerifyError(String);

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VerifyError {}
