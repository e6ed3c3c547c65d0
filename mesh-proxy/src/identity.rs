//! The workload's identity, Istio's `spiffe://<td>/ns/<ns>/sa/<sa>`: a key made in
//! memory that never leaves the process, a CSR naming that one SPIFFE ID, the CA's
//! answer checked before it is used, and renewal at half the remaining life that
//! keeps the old certificate while the CA cannot be reached (ztunnel's
//! `identity/manager.rs`). Every certificate is published on a [`CertificateWatch`],
//! which the data path, the admin pages and the agent's SDS server read.
//!
//! [`csr`] makes the key and the request; [`ca_client`] sends it over [`channel`]
//! (TLS verified against `--root-cert`, the bearer token, the workload certificate
//! once held); [`verify`] checks the answer; [`schedule`] says when to renew (pure);
//! [`manager`] runs the loop.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use mesh_api::identity::SpiffeId;
use mesh_tls::CertificateInfo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use tokio::sync::watch;

mod args;
mod ca_client;
mod channel;
mod codec;
mod csr;
mod manager;
mod schedule;
#[cfg(test)]
pub(crate) mod test_ca;
mod verify;

pub use args::IdentityArgs;
pub use channel::{ControlPlaneCredentials, CredentialError};

/// The proxy's current certificate and key, as the CA issued them.
pub struct WorkloadCertificate {
    pub identity: SpiffeId,
    /// The leaf first, then any intermediates; the root is left out (peers hold it).
    pub chain: Vec<CertificateDer<'static>>,
    /// PKCS#8, generated in this process.
    pub key: PrivateKeyDer<'static>,
    /// The trust bundle (`--root-cert`): every root a peer's chain may end at.
    pub roots: Vec<CertificateDer<'static>>,
    /// The leaf's facts (serial, validity, SANs).
    pub info: CertificateInfo,
}

/// The current certificate; `None` until the first one, and again if the last one
/// expired without a successor.
pub type CertificateWatch = watch::Receiver<Option<Arc<WorkloadCertificate>>>;

/// What `mesh-proxy run` and `mesh-proxy agent` need to get certificates.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityConfig {
    #[serde(serialize_with = "display")]
    pub id: SpiffeId,
    /// The control plane's CA, `HOST:PORT` (Istio's CA_ADDR; the xDS address unless
    /// `--ca-address` says otherwise).
    pub ca_address: String,
    pub root_cert: PathBuf,
    pub token_file: PathBuf,
    /// The lifetime asked for (the CA may cap it).
    #[serde(serialize_with = "seconds")]
    pub cert_ttl: Duration,
}

/// A running identity: its certificates, what the admin pages say about it, and the
/// credentials the xDS client uses with the same control plane.
#[derive(Debug, Clone)]
pub struct WorkloadIdentity {
    pub certificates: CertificateWatch,
    pub status: IdentityStatus,
    pub credentials: ControlPlaneCredentials,
}

/// Who the proxy is, and how the last attempt to get a certificate went (readiness
/// and the admin pages say why there is no certificate).
#[derive(Debug, Clone)]
pub struct IdentityStatus {
    pub id: SpiffeId,
    pub ca_address: String,
    progress: Arc<Mutex<Progress>>,
}

#[derive(Debug, Default)]
struct Progress {
    last_error: Option<String>,
    updated: Option<SystemTime>,
}

/// Why the identity could not start.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

/// Starts getting and renewing certificates for `config.id`, on the current runtime.
/// Fails at once if `--root-cert` cannot be read; a CA that cannot be reached is
/// retried, with the reason on [`IdentityStatus`].
pub fn spawn(config: &IdentityConfig) -> Result<WorkloadIdentity, IdentityError> {
    let (tx, certificates) = watch::channel(None);
    let credentials = ControlPlaneCredentials::new(
        config.root_cert.clone(),
        Some(config.token_file.clone()),
        certificates.clone(),
    )?;
    let status = IdentityStatus::new(config.id.clone(), config.ca_address.clone());
    let client = ca_client::CaClient::new(config.ca_address.clone(), credentials.clone());
    let manager = manager::CertificateManager::new(
        client,
        manager::Request {
            id: config.id.clone(),
            ttl: config.cert_ttl,
            credentials: credentials.clone(),
        },
        status.clone(),
        tx,
    );
    tokio::spawn(manager.run());
    Ok(WorkloadIdentity {
        certificates,
        status,
        credentials,
    })
}

impl WorkloadCertificate {
    /// The chain as PEM, leaf first (SDS `default`'s `certificate_chain`).
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(|c| pem("CERTIFICATE", c)).collect()
    }

    /// The trust bundle as PEM (SDS `ROOTCA`'s `trusted_ca`).
    pub fn roots_pem(&self) -> String {
        self.roots.iter().map(|c| pem("CERTIFICATE", c)).collect()
    }

    /// The key as PKCS#8 PEM: only for the agent's SDS answer to Envoy.
    pub fn key_pem(&self) -> String {
        pem("PRIVATE KEY", self.key.secret_der())
    }

    /// A version of the trust bundle: its roots' serial numbers (SDS `ROOTCA`'s
    /// version, as the leaf's serial is `default`'s).
    pub fn roots_version(&self) -> String {
        self.roots
            .iter()
            .filter_map(|r| CertificateInfo::parse(r).ok())
            .map(|info| info.serial)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether it is still within its validity at `now`.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        self.info.not_before <= now && now < self.info.not_after
    }
}

impl fmt::Debug for WorkloadCertificate {
    // Never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadCertificate")
            .field("identity", &self.identity.to_string())
            .field("serial", &self.info.serial)
            .field("not_after", &self.info.not_after)
            .field("chain", &self.chain.len())
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}

impl IdentityStatus {
    pub fn new(id: SpiffeId, ca_address: String) -> IdentityStatus {
        IdentityStatus {
            id,
            ca_address,
            progress: Arc::default(),
        }
    }

    /// Why the last attempt failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// When the current certificate was received.
    pub fn last_updated(&self) -> Option<SystemTime> {
        self.lock().updated
    }

    fn succeeded(&self, at: SystemTime) {
        let mut progress = self.lock();
        progress.last_error = None;
        progress.updated = Some(at);
    }

    fn failed(&self, error: String) {
        self.lock().last_error = Some(error);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// PEM with 64-column lines, as openssl writes it.
fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn display<S: serde::Serializer>(v: &impl fmt::Display, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs()))
}
