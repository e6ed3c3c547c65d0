//! `/debug/syncz`: whether each connected proxy has ACKed the latest config of every
//! xDS type (what `meshctl proxy-status` shows, as `istioctl proxy-status` does).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// One ADS stream of one proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySyncStatus {
    /// The node id (`sidecar~10.0.0.7~productpage-v1-0.bookinfo~bookinfo.svc.cluster.local`).
    pub proxy: String,
    /// `<pod>.<namespace>`.
    pub name: String,
    /// This stream's id; a reconnecting proxy gets a new one.
    pub connection: String,
    /// RFC 3339, UTC.
    pub connected_at: String,
    pub protocol: AdsProtocol,
    /// The version of the `mesh-control` serving the stream.
    pub control_plane_version: String,
    /// The config version the proxy's resources were last computed from.
    pub config_version: u64,
    /// Every type the control plane serves, sent or not.
    pub types: BTreeMap<DiscoveryService, TypeSyncStatus>,
}

/// The sync state of one xDS type on one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeSyncStatus {
    pub state: SyncState,
    /// Of the last response of this type.
    pub sent_version: Option<String>,
    pub sent_nonce: Option<String>,
    /// The version the proxy runs with: the last response it ACKed.
    pub acked_version: Option<String>,
    /// Envoy's `error_detail.message` when the last response was NACKed.
    pub error: Option<String>,
    /// When that NACK came (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nacked_at: Option<String>,
    /// How many resources the last response carried (SotW) or the proxy holds (Delta).
    pub resources: usize,
}

/// `istioctl proxy-status`'s states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    /// The last response was ACKed.
    Synced,
    /// Nothing of this type was sent (the proxy did not ask, or has not yet).
    NotSent,
    /// Sent, not yet ACKed.
    Stale,
    /// The last response was rejected; the proxy keeps its last accepted config.
    Nacked,
}

/// Which ADS variant a stream speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdsProtocol {
    /// State of the World: every response carries the full set of a type.
    Sotw,
    /// Incremental: responses carry only changed and removed resources.
    Delta,
}

/// An xDS type by the name of its discovery service, as `istioctl proxy-status`
/// users know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DiscoveryService {
    #[serde(rename = "CDS")]
    Cds,
    #[serde(rename = "EDS")]
    Eds,
    #[serde(rename = "LDS")]
    Lds,
    #[serde(rename = "RDS")]
    Rds,
}

impl SyncState {
    /// The state as `istioctl proxy-status` prints it (`NOT SENT`).
    pub fn label(self) -> &'static str {
        match self {
            SyncState::Synced => "SYNCED",
            SyncState::NotSent => "NOT SENT",
            SyncState::Stale => "STALE",
            SyncState::Nacked => "NACKED",
        }
    }
}

impl fmt::Display for AdsProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdsProtocol::Sotw => "sotw",
            AdsProtocol::Delta => "delta",
        })
    }
}

impl fmt::Display for DiscoveryService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiscoveryService::Cds => "CDS",
            DiscoveryService::Eds => "EDS",
            DiscoveryService::Lds => "LDS",
            DiscoveryService::Rds => "RDS",
        })
    }
}
