//! TLS on the data path (linkerd2-proxy's `meshtls`, Envoy's `tls` transport
//! socket): a filter chain's `DownstreamTlsContext` terminates TLS, a cluster's
//! `UpstreamTlsContext` originates it, with rustls. Certificates come from the
//! workload's identity (SDS `default`, `ROOTCA`) or from files.

mod ciphers;
mod contexts;
mod material;
mod peer;
mod verify;
mod workload;

pub use contexts::{ClientTls, ServerTls, TlsContexts};
pub use material::{WORKLOAD_CERTIFICATE, WORKLOAD_ROOTS, check_source};
pub use peer::PeerCertificate;
pub use workload::{WorkloadTls, WorkloadTlsWatch, no_workload_tls};
