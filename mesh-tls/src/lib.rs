//! The TLS pieces the control plane, the proxy and the agent share (linkerd2-proxy's
//! `meshtls`): one crypto provider, PEM reading that names what it could not read, and
//! the facts of a certificate (serial, validity, SANs, SPIFFE ID) that admin pages,
//! `meshctl proxy-config secret` and peer verification show or check.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

mod certificate;
mod pem;

pub use certificate::{CertificateError, CertificateInfo, identity_of};
pub use pem::{PemError, certificates_from_pem, private_key_from_pem};

/// The crypto provider of every TLS config in mesh: ring (docs/security.md says why).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
