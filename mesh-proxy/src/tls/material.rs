//! Where a TLS context's certificate and trust come from: the workload's own
//! (SDS `default` and `ROOTCA`, as Istio names them), or PEM files (a
//! DestinationRule's SIMPLE/MUTUAL files, Istio's `file-cert:`/`file-root:` SDS
//! names). Files are read when the context is first used; the workload's material is
//! read at each handshake, so a rotated certificate is used from the next one on.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::workload::WorkloadTlsWatch;
use crate::config::CertificateSource;

/// Istio's SDS name for the workload's certificate and key.
pub const WORKLOAD_CERTIFICATE: &str = "default";
/// Istio's SDS name for the workload's trust bundle.
pub const WORKLOAD_ROOTS: &str = "ROOTCA";

/// A certificate and key to present.
#[derive(Debug, Clone)]
pub(super) enum KeySource {
    Workload(WorkloadTlsWatch),
    Static(Arc<CertifiedKey>),
}

/// Roots to verify a peer against.
#[derive(Debug, Clone)]
pub(super) enum RootsSource {
    Workload(WorkloadTlsWatch),
    Static(Arc<RootCertStore>),
}

impl KeySource {
    /// The key to present now; `None` when the workload has no certificate yet.
    pub(super) fn current(&self) -> Option<Arc<CertifiedKey>> {
        match self {
            KeySource::Workload(w) => w.borrow().as_ref().map(|t| t.key.clone()),
            KeySource::Static(k) => Some(k.clone()),
        }
    }

    /// The certificate source as a [`KeySource`].
    pub(super) fn resolve(
        source: &CertificateSource,
        workload: &WorkloadTlsWatch,
    ) -> Result<KeySource, String> {
        match source {
            CertificateSource::Sds(name) if name == WORKLOAD_CERTIFICATE => {
                Ok(KeySource::Workload(workload.clone()))
            }
            CertificateSource::Sds(name) => match name.strip_prefix("file-cert:") {
                // Istio's pilot-agent serves `file-cert:<cert>~<key>` from files.
                Some(files) => {
                    let (cert, key) = files.split_once('~').ok_or_else(|| {
                        format!("SDS secret {name:?}: expected file-cert:<cert path>~<key path>")
                    })?;
                    static_key(cert, key)
                }
                None => Err(format!(
                    "SDS secret {name:?} is not served here: this proxy serves {WORKLOAD_CERTIFICATE:?}, \
                     {WORKLOAD_ROOTS:?}, file-cert:<cert>~<key> and file-root:<path>"
                )),
            },
            CertificateSource::Files {
                certificate_chain,
                private_key: Some(key),
            } => static_key(certificate_chain, key),
            CertificateSource::Files {
                certificate_chain,
                private_key: None,
            } => Err(format!(
                "{certificate_chain}: a certificate without a private key"
            )),
        }
    }
}

impl RootsSource {
    /// The roots now; `None` when the workload has no trust bundle yet.
    pub(super) fn current(&self) -> Option<Arc<RootCertStore>> {
        match self {
            RootsSource::Workload(w) => w.borrow().as_ref().map(|t| t.roots.clone()),
            RootsSource::Static(r) => Some(r.clone()),
        }
    }

    pub(super) fn resolve(
        source: &CertificateSource,
        workload: &WorkloadTlsWatch,
    ) -> Result<RootsSource, String> {
        let path = match source {
            CertificateSource::Sds(name) if name == WORKLOAD_ROOTS => {
                return Ok(RootsSource::Workload(workload.clone()));
            }
            CertificateSource::Sds(name) => name.strip_prefix("file-root:").ok_or_else(|| {
                format!(
                    "SDS validation secret {name:?} is not served here: this proxy serves \
                     {WORKLOAD_ROOTS:?} and file-root:<path>"
                )
            })?,
            CertificateSource::Files {
                certificate_chain, ..
            } => certificate_chain.as_str(),
        };
        let pem = read(path)?;
        let certificates =
            mesh_tls::certificates_from_pem(&pem, path).map_err(|e| e.to_string())?;
        Ok(RootsSource::Static(Arc::new(root_store(
            &certificates,
            path,
        )?)))
    }
}

fn static_key(cert: &str, key: &str) -> Result<KeySource, String> {
    let chain = mesh_tls::certificates_from_pem(&read(cert)?, cert).map_err(|e| e.to_string())?;
    let key_der = mesh_tls::private_key_from_pem(&read(key)?, key).map_err(|e| e.to_string())?;
    Ok(KeySource::Static(Arc::new(certified_key(
        chain, key_der, cert,
    )?)))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

/// A chain and its key as rustls signs with them; the key must match the leaf.
pub(super) fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    what: &str,
) -> Result<CertifiedKey, String> {
    let provider = mesh_tls::provider();
    let certified = CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("{what}: unusable key: {e}"))?;
    Ok(certified)
}

/// Trust anchors from root certificates; any unparseable root is an error.
pub(super) fn root_store(
    roots: &[CertificateDer<'static>],
    what: &str,
) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| format!("{what}: a root cannot be used as a trust anchor: {e}"))?;
    }
    if store.is_empty() {
        return Err(format!("{what}: no root certificates"));
    }
    Ok(store)
}

/// Whether this proxy can serve `source` at all, checked when the config arrives so
/// that an SDS name it will never have is NACKed rather than failing every
/// handshake. Files are read later, at first use (as Envoy, which reads them when the
/// context is created).
pub fn check_source(source: &CertificateSource, trust: bool) -> Result<(), String> {
    let CertificateSource::Sds(name) = source else {
        return Ok(());
    };
    let servable = if trust {
        name == WORKLOAD_ROOTS || name.starts_with("file-root:")
    } else {
        name == WORKLOAD_CERTIFICATE || name.starts_with("file-cert:")
    };
    if servable {
        Ok(())
    } else if trust {
        Err(format!(
            "SDS validation secret {name:?} is not served by this proxy (it serves \
             {WORKLOAD_ROOTS:?} and file-root:<path>)"
        ))
    } else {
        Err(format!(
            "SDS secret {name:?} is not served by this proxy (it serves \
             {WORKLOAD_CERTIFICATE:?} and file-cert:<cert>~<key>)"
        ))
    }
}
