//! The signing CA, from Istio's `cacerts` files: `ca-cert.pem` and `ca-key.pem` sign,
//! `cert-chain.pem` leads from `ca-cert.pem` to its root, `root-cert.pem` is the trust
//! bundle (one root or several). Either a self-signed root made here, or a plugged-in
//! intermediate under an offline root. Pure: file contents and the clock come in.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType,
};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::clock;
use super::key::{self, KeyError};
use super::random_serial;
use super::trust::{TrustBundle, Usage};

/// Istio's `cacerts` file names.
pub const CA_CERT: &str = "ca-cert.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const CERT_CHAIN: &str = "cert-chain.pem";
pub const ROOT_CERT: &str = "root-cert.pem";

/// A new root's lifetime (Istio's self-signed root: ten years).
pub const ROOT_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// The CA that signs: its key, its chain up to the root, and the trust bundle.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// `ca-cert.pem` first, then its issuers, the root last: what follows a leaf.
    chain: Vec<CertificateDer<'static>>,
    bundle: TrustBundle,
    /// The signing certificate's end: no leaf outlives it.
    not_after: SystemTime,
}

/// The contents of the `cacerts` files, and how to name them in errors.
#[derive(Debug, Clone, Copy)]
pub struct CaFiles<'a> {
    pub ca_cert: &'a [u8],
    pub ca_key: &'a [u8],
    /// Absent: `ca-cert.pem` is issued by a root of `root-cert.pem` itself.
    pub cert_chain: Option<&'a [u8]>,
    pub root_cert: &'a [u8],
    /// Prefixed to the file names in errors (the CA directory, with a trailing `/`).
    pub dir: &'a str,
}

/// Why the CA files cannot be used. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("{file}: {reason}")]
    Unreadable { file: String, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "{file} is not a CA certificate (its basic constraints do not let it sign); put the \
         signing CA's certificate there"
    )]
    NotCa { file: String },
    #[error(
        "{key} does not match {cert}: the key's public key is not the certificate's; put the \
         private key of {cert} in {key}"
    )]
    KeyMismatch { key: String, cert: String },
    #[error(
        "{cert} does not chain to a root in {roots} through {chain}: {reason}; put the \
         certificates from ca-cert.pem up to its root in cert-chain.pem (as Istio: `cat \
         ca-cert.pem root-cert.pem > cert-chain.pem`) and that root in root-cert.pem"
    )]
    Untrusted {
        cert: String,
        chain: String,
        roots: String,
        reason: String,
    },
    #[error("cannot sign with the CA key: {0}")]
    Signing(String),
}

impl Authority {
    /// Checks the files and makes the CA: `ca-cert.pem` must be a CA whose key is
    /// `ca-key.pem`, and must lead through `cert-chain.pem` to a root of
    /// `root-cert.pem`, valid at `now`.
    pub fn from_files(files: CaFiles<'_>, now: SystemTime) -> Result<Authority, AuthorityError> {
        let name = |file: &str| format!("{}{file}", files.dir);
        let certs = |pem: &[u8], file: &str| {
            mesh_tls::certificates_from_pem(pem, &name(file)).map_err(|e| {
                AuthorityError::Unreadable {
                    file: name(file),
                    reason: e.to_string(),
                }
            })
        };
        let ca_cert = certs(files.ca_cert, CA_CERT)?.remove(0);
        let key = key::from_pem(files.ca_key, &name(CA_KEY))?;
        let roots = certs(files.root_cert, ROOT_CERT)?;
        let chain_files = match files.cert_chain {
            Some(pem) if !pem.iter().all(u8::is_ascii_whitespace) => certs(pem, CERT_CHAIN)?,
            _ => Vec::new(),
        };

        let parsed = parse(&ca_cert, &name(CA_CERT))?;
        if !parsed.is_ca() {
            return Err(AuthorityError::NotCa {
                file: name(CA_CERT),
            });
        }
        if parsed.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
            return Err(AuthorityError::KeyMismatch {
                key: name(CA_KEY),
                cert: name(CA_CERT),
            });
        }
        let not_after = clock::from_unix(parsed.validity().not_after.timestamp());

        let mut chain = vec![ca_cert.clone()];
        chain.extend(chain_files.into_iter().filter(|c| *c != ca_cert));
        complete_with_root(&mut chain, &roots)?;

        let issuer =
            Issuer::from_ca_cert_der(&ca_cert, key).map_err(|e| AuthorityError::Unreadable {
                file: name(CA_CERT),
                reason: e.to_string(),
            })?;
        let authority = Authority {
            issuer,
            chain,
            bundle: TrustBundle::new(roots),
            not_after,
        };
        authority.check_chain(now, &name)?;
        Ok(authority)
    }

    /// The chain that follows a leaf: the signing certificate first, the root last.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub fn bundle(&self) -> &TrustBundle {
        &self.bundle
    }

    /// When the signing certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Signs `params` for `public_key`.
    pub fn sign(
        &self,
        params: &CertificateParams,
        public_key: &impl PublicKeyData,
    ) -> Result<CertificateDer<'static>, AuthorityError> {
        params
            .signed_by(public_key, &self.issuer)
            .map(|c| c.der().clone())
            .map_err(|e| AuthorityError::Signing(e.to_string()))
    }

    /// Signs a throwaway client certificate and verifies it against the bundle: this
    /// proves the key signs what the chain promises, as a proxy will check it.
    fn check_chain(
        &self,
        now: SystemTime,
        name: &dyn Fn(&str) -> String,
    ) -> Result<(), AuthorityError> {
        let probe_key = KeyPair::generate().map_err(|e| AuthorityError::Signing(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(
            "spiffe://probe/ns/probe/sa/probe"
                .try_into()
                .map_err(|e: rcgen::Error| AuthorityError::Signing(e.to_string()))?,
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = clock::offset(now - Duration::from_secs(60));
        params.not_after = clock::offset(now + Duration::from_secs(60));
        let probe = self.sign(&params, &probe_key)?;
        let mut chain = vec![probe];
        chain.extend(self.chain.iter().cloned());
        self.bundle
            .verify(&chain, now, Usage::Client)
            .map_err(|e| AuthorityError::Untrusted {
                cert: name(CA_CERT),
                chain: name(CERT_CHAIN),
                roots: name(ROOT_CERT),
                reason: e.to_string(),
            })
    }
}

/// A self-signed root for `trust_domain` with `key`: Istio's self-signed CA (subject
/// `O=<trust domain>`), valid for ten years from `now`.
pub fn self_signed_root(
    key: &KeyPair,
    trust_domain: &str,
    now: SystemTime,
) -> Result<CertificateDer<'static>, AuthorityError> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, trust_domain);
    params.distinguished_name = subject;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial().map_err(AuthorityError::Signing)?);
    // An hour back: a proxy whose clock is a little behind still trusts it.
    params.not_before = clock::offset(now - Duration::from_secs(3600));
    params.not_after = clock::offset(now + ROOT_TTL);
    params
        .self_signed(key)
        .map(|c| c.der().clone())
        .map_err(|e| AuthorityError::Signing(e.to_string()))
}

/// Appends the root the chain ends at, when `cert-chain.pem` stops below it.
fn complete_with_root(
    chain: &mut Vec<CertificateDer<'static>>,
    roots: &[CertificateDer<'static>],
) -> Result<(), AuthorityError> {
    let Some(last) = chain.last() else {
        return Ok(());
    };
    let last = parse(last, "cert-chain.pem")?;
    if last.subject().as_raw() == last.issuer().as_raw() {
        return Ok(());
    }
    let issuer = last.issuer().as_raw().to_vec();
    for root in roots {
        if parse(root, "root-cert.pem")?.subject().as_raw() == issuer.as_slice() {
            chain.push(root.clone());
            break;
        }
    }
    Ok(())
}

fn parse<'a>(
    der: &'a CertificateDer<'_>,
    file: &str,
) -> Result<X509Certificate<'a>, AuthorityError> {
    X509Certificate::from_der(der.as_ref())
        .map(|(_, c)| c)
        .map_err(|e| AuthorityError::Unreadable {
            file: file.to_string(),
            reason: format!("not an X.509 certificate: {e}"),
        })
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Authority")
            .field("chain", &self.chain.len())
            .field("roots", &self.bundle.roots().len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
