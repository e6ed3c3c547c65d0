//! The data path. A connection's way through the proxy, top-down:
//!
//! accept ([`listeners`]) → original destination and hand-off, protocol detection,
//! filter chain, transport socket ([`connection`], [`inspect`],
//! `crate::config::filter_chain`) → either the TCP proxy ([`tcp_proxy`]) or the HTTP
//! connection manager ([`http`]: hyper's codec, HTTP/1.1 and h2 prior knowledge).
//!
//! A request's way, in [`http`]: route → the HTTP filters in the listener's order
//! ([`http_filters`]: fault, CORS) → the router: forward ([`forward`]: pick the
//! cluster, build the upstream request, prepare the body, mirror, [`attempts`] with
//! the retry policy, finish the response), redirect or direct response → the filters
//! on the response → its record ([`crate::stream_info`]) completes when the response
//! has been sent ([`completion`]: stats, access log).

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Snapshot;
use crate::drain::Drain;
use crate::identity::CertificateWatch;
use crate::stats::Stats;
use crate::tls::TlsContexts;

mod access_log;
mod attempts;
mod completion;
mod connection;
mod deadline;
mod forward;
mod header_timeout;
mod headers;
mod http;
mod http_filters;
mod inspect;
pub mod listeners;
mod local_reply;
mod mirror;
mod orig_dst;
mod request_body;
mod retry;
mod tcp_proxy;
mod upgrade;

pub use headers::random;
pub use local_reply::{BoxError, ProxyBody, full};
pub(crate) use request_body::Replay;

/// What every connection of the proxy shares: the config snapshots, the counters,
/// the drain signal and the workload certificate.
#[derive(Debug, Clone)]
pub struct Shared {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub stats: Arc<Stats>,
    /// Listeners stop accepting, and connections finish, once it is signaled.
    pub drain: Drain,
    /// The TLS contexts in use, and the workload's certificate they present.
    pub tls: Arc<TlsContexts>,
    /// The workload certificate (SDS `default` and `ROOTCA`); always `None` for a
    /// proxy without an identity (no `--root-cert`).
    pub certificates: CertificateWatch,
}
