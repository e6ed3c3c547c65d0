//! Signing: a workload's CSR becomes a leaf for the identity the caller proved, and
//! nothing else; the control plane's own serving certificate. Pure: the CA, the
//! caller's identity and the clock come in.

use std::time::{Duration, SystemTime};

use mesh_api::identity::SpiffeId;
use mesh_tls::CertificateInfo;
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::authority::Authority;
use super::{clock, random_serial};

/// The shortest workload certificate (for tests of rotation).
pub const MIN_WORKLOAD_CERT_TTL: Duration = Duration::from_secs(60);

/// Certificates start this long before they are signed, for peers whose clocks lag.
const BACKDATE: Duration = Duration::from_secs(60);

/// How long workload certificates live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimePolicy {
    /// When the caller asks for none (`validity_duration` 0).
    pub default: Duration,
    /// Longer requests are refused, as Istio refuses them.
    pub max: Duration,
}

/// A signed certificate: the chain (leaf first, root last) and the leaf's facts.
#[derive(Debug, Clone)]
pub struct SignedCertificate {
    pub chain: Vec<CertificateDer<'static>>,
    pub info: CertificateInfo,
}

/// Why a CSR was not signed. Each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the CSR cannot be read: {0}; send a PEM PKCS#10 certificate request")]
    BadCsr(String),
    #[error(
        "the CSR's signature does not verify with the public key it carries; sign the request \
         with its own key"
    )]
    BadCsrSignature,
    #[error(
        "the CSR names no identity; put the URI SAN {proven} (the identity the caller proved) \
         in it"
    )]
    NoIdentity { proven: String },
    #[error(
        "the CSR asks for {asked} but the caller proved {proven}; a workload gets a \
         certificate for its own identity only"
    )]
    OtherIdentity { asked: String, proven: String },
    #[error(
        "requested TTL {requested}s is greater than the max allowed TTL {max}s; ask for less \
         (or 0 for the default)"
    )]
    TtlTooLong { requested: i64, max: u64 },
    #[error(
        "requested TTL {requested}s is below the minimum of {min}s; ask for more (or 0 for the \
         default)"
    )]
    TtlTooShort { requested: i64, min: u64 },
    #[error("cannot sign the certificate: {0}")]
    Signing(String),
}

impl LifetimePolicy {
    /// The lifetime for a request's `validity_duration` (seconds; 0: the default).
    pub fn lifetime(&self, requested: i64) -> Result<Duration, SignError> {
        if requested == 0 {
            return Ok(self.default.min(self.max));
        }
        let Ok(secs) = u64::try_from(requested) else {
            return Err(SignError::TtlTooShort {
                requested,
                min: MIN_WORKLOAD_CERT_TTL.as_secs(),
            });
        };
        let wanted = Duration::from_secs(secs);
        if wanted > self.max {
            return Err(SignError::TtlTooLong {
                requested,
                max: self.max.as_secs(),
            });
        }
        if wanted < MIN_WORKLOAD_CERT_TTL {
            return Err(SignError::TtlTooShort {
                requested,
                min: MIN_WORKLOAD_CERT_TTL.as_secs(),
            });
        }
        Ok(wanted)
    }
}

/// Signs `csr_pem` for `identity`, the caller's proven identity, for `ttl` from
/// `now` (never beyond the signing CA's own end). The CSR's key is kept, its names
/// must be exactly `identity`, everything else about the leaf is the CA's choice.
pub fn sign_workload_csr(
    authority: &Authority,
    csr_pem: &str,
    identity: &SpiffeId,
    ttl: Duration,
    now: SystemTime,
) -> Result<SignedCertificate, SignError> {
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| match e {
        rcgen::Error::InvalidCertificationRequestSignature => SignError::BadCsrSignature,
        rcgen::Error::UnsupportedExtension => SignError::BadCsr(
            "it asks for an extension other than SAN, key usage, extended key usage and basic \
             constraints"
                .into(),
        ),
        e => SignError::BadCsr(e.to_string()),
    })?;
    let proven = identity.to_string();
    let asked: Vec<String> = csr.params.subject_alt_names.iter().map(san_text).collect();
    if asked.is_empty() {
        return Err(SignError::NoIdentity { proven });
    }
    if asked.iter().any(|a| *a != proven) {
        return Err(SignError::OtherIdentity {
            asked: asked.join(", "),
            proven,
        });
    }

    let mut params = leaf_params(now, ttl, authority.not_after())?;
    params.subject_alt_names =
        vec![SanType::URI(proven.as_str().try_into().map_err(
            |e: rcgen::Error| SignError::Signing(e.to_string()),
        )?)];
    let leaf = authority
        .sign(&params, &csr.public_key)
        .map_err(|e| SignError::Signing(e.to_string()))?;
    signed(leaf, authority)
}

/// A serving certificate for the control plane, with a new key: the names it is
/// reached at, for `ttl` from `now`.
pub fn serving_certificate(
    authority: &Authority,
    names: Vec<SanType>,
    ttl: Duration,
    now: SystemTime,
) -> Result<(SignedCertificate, PrivateKeyDer<'static>), SignError> {
    let key = KeyPair::generate().map_err(|e| SignError::Signing(e.to_string()))?;
    let mut params = leaf_params(now, ttl, authority.not_after())?;
    params.subject_alt_names = names;
    let leaf = authority
        .sign(&params, &key)
        .map_err(|e| SignError::Signing(e.to_string()))?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((signed(leaf, authority)?, key))
}

/// What every leaf has: no subject (the identity is the SAN, as Istio's), not a
/// CA, for TLS clients and servers, a random serial.
fn leaf_params(
    now: SystemTime,
    ttl: Duration,
    ca_not_after: SystemTime,
) -> Result<CertificateParams, SignError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial().map_err(SignError::Signing)?);
    params.not_before = clock::offset(now - BACKDATE);
    params.not_after = clock::offset((now + ttl).min(ca_not_after));
    Ok(params)
}

fn signed(
    leaf: CertificateDer<'static>,
    authority: &Authority,
) -> Result<SignedCertificate, SignError> {
    let info = CertificateInfo::parse(&leaf).map_err(|e| SignError::Signing(e.to_string()))?;
    let mut chain = vec![leaf];
    chain.extend(authority.chain().iter().cloned());
    Ok(SignedCertificate { chain, info })
}

/// A SAN as users write it: the URI itself, `DNS:…`, `IP:…`.
fn san_text(san: &SanType) -> String {
    match san {
        SanType::URI(uri) => uri.as_str().to_string(),
        SanType::DnsName(name) => format!("DNS:{}", name.as_str()),
        SanType::IpAddress(ip) => format!("IP:{ip}"),
        SanType::Rfc822Name(mail) => format!("email:{}", mail.as_str()),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
