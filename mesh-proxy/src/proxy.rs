//! The data path. A request's way through the proxy, top-down:
//!
//! accept ([`listeners`]) → HTTP codec (hyper, HTTP/1.1 and h2 prior knowledge) →
//! route ([`http`], with `crate::route`) → balance and connect, with timeout and
//! retries ([`forward`]) → response, or a local reply ([`local_reply`]).

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Snapshot;
use crate::stats::Stats;

mod deadline;
mod forward;
mod headers;
mod http;
pub mod listeners;
mod local_reply;

pub use headers::random;
pub use local_reply::{BoxError, ProxyBody, full};

/// What every connection of the proxy shares: the config snapshots and the counters.
#[derive(Debug, Clone)]
pub struct Shared {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub stats: Arc<Stats>,
}
