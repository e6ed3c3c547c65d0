//! The data path. A request's way through the proxy, top-down:
//!
//! accept ([`listeners`]) → original destination and hand-off, protocol detection,
//! filter chain ([`connection`], [`inspect`], `crate::config::filter_chain`) →
//! either the TCP proxy ([`tcp_proxy`]) or the HTTP codec (hyper, HTTP/1.1 and h2
//! prior knowledge) → route ([`http`], with `crate::route`) → balance and connect,
//! with timeout and retries ([`forward`]) → response, or a local reply
//! ([`local_reply`]).

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Snapshot;
use crate::drain::Drain;
use crate::stats::Stats;

mod connection;
mod deadline;
mod forward;
mod headers;
mod http;
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

/// What every connection of the proxy shares: the config snapshots, the counters and
/// the drain signal.
#[derive(Debug, Clone)]
pub struct Shared {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub stats: Arc<Stats>,
    /// Listeners stop accepting, and connections finish, once it is signaled.
    pub drain: Drain,
}
