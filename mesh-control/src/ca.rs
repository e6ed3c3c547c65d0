//! The CA (Citadel's half of istiod): it signs workload certificates for the
//! identity a caller proves, and nothing else.
//!
//! - [`authority`]: the signing CA and trust bundle from Istio's `cacerts` files,
//!   kept in `--ca-dir` ([`ca_dir`]), with the key read or made by [`key`].
//! - [`sign`]: CSR → leaf for the caller's own SPIFFE ID; the serving certificate.
//! - [`token`]: workload tokens (ES256 JWTs) that prove an identity in universal mode.
//! - [`auth`]: who a gRPC caller is (a token, or a client certificate on 15012).
//! - [`service`]: the `istio.v1.auth.IstioCertificateService/CreateCertificate` method.
//! - [`tls`]: TLS on 15012 with a serving certificate from this CA.
//!
//! docs/security.md is the user's view.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use mesh_api::certificate_service::{IstioCertificateRequest, IstioCertificateResponse};
use mesh_api::debug::{TokenRequest, TokenResponse};
use mesh_api::identity::SpiffeId;
use ring::rand::{SecureRandom as _, SystemRandom};

pub mod auth;
pub mod authority;
pub mod ca_dir;
mod clock;
pub mod host_addresses;
pub mod issued;
pub mod key;
pub mod kube;
pub mod service;
pub mod sign;
#[cfg(test)]
pub(crate) mod testing;
pub mod tls;
pub mod token;
pub mod trust;

pub use auth::{Caller, PeerCertificate};
pub use authority::Authority;
pub use issued::{Credential, IssuedCertificates, IssuedRecord};
pub use key::CaKeyType;
pub use service::CertificateService;
pub use sign::{LifetimePolicy, SignError};
pub use token::{TokenError, TokenGrant, TokenKey, WorkloadToken};
pub use trust::TrustBundle;

/// A workload token's lifetime when the request names none.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// The longest workload token.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(365 * 24 * 3600);

/// How the CA is set up (from the command line).
#[derive(Debug, Clone)]
pub struct CaConfig {
    pub dir: PathBuf,
    pub trust_domain: String,
    pub key_type: CaKeyType,
    pub lifetimes: LifetimePolicy,
}

/// The CA: signs CSRs and workload tokens, remembers what it issued.
#[derive(Debug)]
pub struct CertificateAuthority {
    authority: Authority,
    tokens: TokenKey,
    trust_domain: String,
    lifetimes: LifetimePolicy,
    issued: IssuedCertificates,
}

/// Why a token was not issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRequestError {
    #[error("{field} {value:?}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
}

impl CertificateAuthority {
    pub fn new(
        authority: Authority,
        tokens: TokenKey,
        trust_domain: &str,
        lifetimes: LifetimePolicy,
    ) -> CertificateAuthority {
        CertificateAuthority {
            authority,
            tokens,
            trust_domain: trust_domain.to_string(),
            lifetimes,
            issued: IssuedCertificates::default(),
        }
    }

    /// Opens the CA in `config.dir`, making a new root there on first start.
    pub fn open(config: &CaConfig) -> Result<CertificateAuthority, ca_dir::CaDirError> {
        let opened = ca_dir::open(
            &config.dir,
            &config.trust_domain,
            config.key_type,
            SystemTime::now(),
        )?;
        if opened.created_root {
            tracing::info!(dir = %config.dir.display(), "created a new self-signed root CA");
        }
        Ok(CertificateAuthority::new(
            opened.authority,
            opened.token_key,
            &config.trust_domain,
            config.lifetimes,
        ))
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    pub fn trust_domain(&self) -> &str {
        &self.trust_domain
    }

    pub fn issued(&self) -> &IssuedCertificates {
        &self.issued
    }

    /// Signs the caller's CSR, for the caller's own identity only.
    pub fn create_certificate(
        &self,
        caller: &Caller,
        request: &IstioCertificateRequest,
        now: SystemTime,
    ) -> Result<IstioCertificateResponse, SignError> {
        let ttl = self.lifetimes.lifetime(request.validity_duration)?;
        let signed =
            sign::sign_workload_csr(&self.authority, &request.csr, &caller.identity, ttl, now)?;
        let workload = caller.workload.clone().or_else(|| {
            caller
                .certificate_serial
                .as_deref()
                .and_then(|serial| self.issued.workload_of(serial))
        });
        self.issued.record(IssuedRecord {
            workload,
            identity: caller.identity.to_string(),
            serial: signed.info.serial.clone(),
            not_before: signed.info.not_before,
            not_after: signed.info.not_after,
            issued_at: now,
            credential: caller.credential,
        });
        Ok(IstioCertificateResponse {
            cert_chain: signed
                .chain
                .iter()
                .map(|c| trust::pem("CERTIFICATE", c))
                .collect(),
        })
    }

    /// A workload token for `request`, issued at `now`.
    pub fn issue_token(
        &self,
        request: &TokenRequest,
        now: SystemTime,
    ) -> Result<TokenResponse, TokenRequestError> {
        let invalid = |field, value: &str, reason| TokenRequestError::Invalid {
            field,
            value: value.to_string(),
            reason,
        };
        let Some((name, namespace)) = request.workload.rsplit_once('.') else {
            return Err(invalid(
                "workload",
                &request.workload,
                "write NAME.NAMESPACE (the pod or WorkloadEntry name and its namespace)",
            ));
        };
        for (field, value) in [
            ("workload", name),
            ("workload", namespace),
            ("serviceAccount", request.service_account.as_str()),
        ] {
            if !is_name(value) {
                return Err(invalid(
                    field,
                    value,
                    "names are letters, digits, '-', '_' and '.', and not empty",
                ));
            }
        }
        let ttl = match request.ttl.as_deref() {
            None | Some("") => DEFAULT_TOKEN_TTL,
            Some(text) => mesh_api::duration::parse_std(text).map_err(|_| {
                invalid("ttl", text, "write a duration such as 1h or 720h (30 days)")
            })?,
        };
        if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
            return Err(invalid(
                "ttl",
                request.ttl.as_deref().unwrap_or_default(),
                "a token lives more than 0s and at most 8760h (a year)",
            ));
        }
        let grant = TokenGrant {
            identity: SpiffeId::new(&self.trust_domain, namespace, &request.service_account),
            workload: request.workload.clone(),
            ttl,
        };
        let token = self.tokens.issue(&grant, now)?;
        Ok(TokenResponse {
            token,
            identity: grant.identity.to_string(),
            workload: grant.workload,
            expires_at: clock::utc(now + ttl),
        })
    }

    /// Who a workload token's bearer is.
    pub fn verify_token(&self, token: &str, now: SystemTime) -> Result<WorkloadToken, TokenError> {
        let verified = self.tokens.verify(token, now)?;
        if verified.identity.trust_domain != self.trust_domain {
            return Err(TokenError::BadSubject(format!(
                "{} is not in this control plane's trust domain {:?}",
                verified.identity, self.trust_domain
            )));
        }
        Ok(verified)
    }
}

/// A Kubernetes-style name: what may sit in a SPIFFE ID's path and a node id.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A random positive serial number of 128 bits (RFC 5280: at most 20 octets).
pub(crate) fn random_serial() -> Result<rcgen::SerialNumber, String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "no randomness for a serial number".to_string())?;
    // Positive and of full length.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}
