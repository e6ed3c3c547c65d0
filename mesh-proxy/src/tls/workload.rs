//! The workload's own TLS material, ready for handshakes: what Istio's SDS names
//! `default` (its certificate and key) and `ROOTCA` (the roots it trusts) resolve to.
//! Built once per certificate rotation, so a handshake only clones `Arc`s.

use std::sync::Arc;

use mesh_api::identity::SpiffeId;
use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;

/// The workload's certificate, key and trust bundle.
#[derive(Debug)]
pub struct WorkloadTls {
    pub identity: SpiffeId,
    pub key: Arc<CertifiedKey>,
    pub roots: Arc<RootCertStore>,
    /// The roots as issued, for the admin's secret views.
    pub root_certificates: Vec<CertificateDer<'static>>,
}

/// The current workload material; `None` before the first certificate (or in a proxy
/// without an identity): TLS that needs it fails its handshakes.
pub type WorkloadTlsWatch = watch::Receiver<Option<Arc<WorkloadTls>>>;

impl WorkloadTls {
    /// Checks the key against the provider and the roots for parseability.
    pub fn new(
        identity: SpiffeId,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<WorkloadTls, String> {
        let key = super::material::certified_key(chain, key, "the workload certificate")?;
        let store = super::material::root_store(&roots, "the workload's trust bundle")?;
        Ok(WorkloadTls {
            identity,
            key: Arc::new(key),
            roots: Arc::new(store),
            root_certificates: roots,
        })
    }
}

/// A watch that never holds material: a proxy without an identity.
pub fn no_workload_tls() -> WorkloadTlsWatch {
    watch::channel(None).1
}
