//! The proxies connected to this control plane and how far each is in sync: what was
//! sent, what was ACKed, what was NACKed and why. Read by the debug endpoint.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use envoy_types::pb::google::rpc;

use super::snapshot::Resources;
use super::xds_type::{PerType, XdsType};
use crate::xds::node::ProxyNode;

/// Connected proxies, by connection id.
#[derive(Debug, Default)]
pub struct Registry {
    connections: Mutex<BTreeMap<String, Arc<ProxyConnection>>>,
}

/// One ADS stream of one proxy.
#[derive(Debug)]
pub struct ProxyConnection {
    /// `<pod>.<ns>-<n>`, unique for the life of the control plane.
    pub id: String,
    pub node: Arc<ProxyNode>,
    pub protocol: AdsProtocolKind,
    pub connected_at: SystemTime,
    status: Mutex<SyncStatus>,
}

/// Which ADS variant a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdsProtocolKind {
    /// State of the World: every response carries the full set of a type.
    Sotw,
    /// Incremental: responses carry only changed and removed resources.
    Delta,
}

/// What one connection has been sent and has answered.
#[derive(Debug, Clone, Default)]
pub struct SyncStatus {
    /// The config version the proxy's resources were last computed from.
    pub config_version: u64,
    pub types: PerType<TypeStatus>,
}

/// Sync state of one type on one connection.
#[derive(Debug, Clone, Default)]
pub struct TypeStatus {
    pub sent_version: Option<String>,
    pub sent_nonce: Option<String>,
    /// The version of the last response the proxy ACKed: what it runs with.
    pub acked_version: Option<String>,
    /// Whether the last response was ACKed.
    pub acked: bool,
    /// Set when the last response was NACKed.
    pub nack: Option<Nack>,
    /// The resources of the last response (SotW) or that the proxy holds (Delta).
    pub resources: Arc<Resources>,
}

/// A response the proxy rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// The rejected version.
    pub version: String,
    pub nonce: String,
    /// Envoy's `error_detail.message`.
    pub error: String,
    pub at: SystemTime,
}

/// A type's sync state, as the debug endpoint shows it (`istioctl proxy-status`'s
/// states): one type for the server and the debug view.
pub use mesh_api::debug::SyncState;

/// What a request with a `response_nonce` means for the response it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Ack,
    Nack(String),
    /// An answer to an older response; Envoy's protocol says to ignore it.
    Stale,
}

/// Removes its connection from the registry when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<Registry>,
    pub(crate) connection: Arc<ProxyConnection>,
}

impl Registry {
    pub(crate) fn register(
        self: &Arc<Self>,
        id: String,
        node: Arc<ProxyNode>,
        protocol: AdsProtocolKind,
    ) -> Registration {
        let connection = Arc::new(ProxyConnection {
            id: id.clone(),
            node,
            protocol,
            connected_at: SystemTime::now(),
            status: Mutex::new(SyncStatus::default()),
        });
        lock(&self.connections).insert(id, connection.clone());
        Registration {
            registry: self.clone(),
            connection,
        }
    }

    /// The connected proxies, ordered by connection id.
    pub fn connections(&self) -> Vec<Arc<ProxyConnection>> {
        lock(&self.connections).values().cloned().collect()
    }

    /// The connections of a proxy given by node id or `pod.namespace`, newest last.
    pub fn find(&self, proxy: &str) -> Vec<Arc<ProxyConnection>> {
        let mut found: Vec<_> = self
            .connections()
            .into_iter()
            .filter(|c| c.node.id == proxy || c.node.short_name() == proxy)
            .collect();
        found.sort_by_key(|c| c.connected_at);
        found
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.connections).remove(&self.connection.id);
    }
}

impl ProxyConnection {
    pub fn status(&self) -> SyncStatus {
        lock(&self.status).clone()
    }

    /// Reads the status in place, without copying it: for callers that poll many
    /// connections often.
    pub fn inspect<R>(&self, f: impl FnOnce(&SyncStatus) -> R) -> R {
        f(&lock(&self.status))
    }

    pub(crate) fn set_status(&self, status: &SyncStatus) {
        *lock(&self.status) = status.clone();
    }
}

impl TypeStatus {
    pub fn state(&self) -> SyncState {
        match (&self.sent_nonce, &self.nack) {
            (None, _) => SyncState::NotSent,
            (Some(_), Some(_)) => SyncState::Nacked,
            (Some(_), None) if self.acked => SyncState::Synced,
            (Some(_), None) => SyncState::Stale,
        }
    }

    pub(crate) fn record_sent(
        &mut self,
        version: String,
        nonce: String,
        resources: Arc<Resources>,
    ) {
        self.sent_version = Some(version);
        self.sent_nonce = Some(nonce);
        self.acked = false;
        self.nack = None;
        self.resources = resources;
    }

    /// Classifies a request answering `nonce` and records an ACK or NACK of the
    /// latest response. After a NACK the ACKed version stays what it was: Envoy keeps
    /// running with it.
    pub(crate) fn on_reply(&mut self, nonce: &str, error: Option<&rpc::Status>) -> Reply {
        if self.sent_nonce.as_deref() != Some(nonce) {
            return Reply::Stale;
        }
        match error {
            Some(status) => {
                let error = if status.message.is_empty() {
                    format!("rejected with gRPC code {} and no message", status.code)
                } else {
                    status.message.clone()
                };
                self.acked = false;
                self.nack = Some(Nack {
                    version: self.sent_version.clone().unwrap_or_default(),
                    nonce: nonce.to_string(),
                    error: error.clone(),
                    at: SystemTime::now(),
                });
                Reply::Nack(error)
            }
            None => {
                self.acked = true;
                self.acked_version = self.sent_version.clone();
                Reply::Ack
            }
        }
    }
}

impl SyncStatus {
    pub fn get(&self, ty: XdsType) -> &TypeStatus {
        &self.types[ty]
    }
}

/// Locks briefly; a panic elsewhere while holding the lock leaves plain data that is
/// still consistent, so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(status: &mut TypeStatus, version: &str, nonce: &str) {
        status.record_sent(version.into(), nonce.into(), Arc::default());
    }

    #[test]
    fn ack_nack_and_stale_replies_drive_the_sync_state() {
        let mut s = TypeStatus::default();
        assert_eq!(s.state(), SyncState::NotSent);
        sent(&mut s, "1-a", "n1");
        assert_eq!(s.state(), SyncState::Stale);
        assert_eq!(s.on_reply("n1", None), Reply::Ack);
        assert_eq!(s.state(), SyncState::Synced);

        sent(&mut s, "2-b", "n2");
        assert_eq!(s.on_reply("n1", None), Reply::Stale);
        let error = rpc::Status {
            code: 3,
            message: "cluster foo: unknown lb policy".into(),
            details: vec![],
        };
        assert_eq!(
            s.on_reply("n2", Some(&error)),
            Reply::Nack("cluster foo: unknown lb policy".into())
        );
        assert_eq!(s.state(), SyncState::Nacked);
        assert_eq!(s.acked_version.as_deref(), Some("1-a"));
        assert_eq!(s.nack.as_ref().map(|n| n.version.as_str()), Some("2-b"));

        sent(&mut s, "3-c", "n3");
        assert_eq!(s.state(), SyncState::Stale);
    }
}
