//! The proxy's configuration as it applies it: listeners, route tables, clusters and
//! endpoints, converted from xDS protos and published as immutable [`Snapshot`]s.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::balance::LoadBalancer;
use crate::route::RouteTable;
use crate::upstream::ClusterRuntime;

mod address;
mod cluster;
mod endpoints;
mod error;
pub mod filter_chain;
mod forward_client_cert;
mod http_filter;
mod listener;
mod network_filter;
mod transport_socket;

pub use cluster::{
    ClusterConfig, ClusterKind, ConnectionLimits, DnsTarget, PoolOptions, build_cluster,
};
pub use endpoints::{Endpoint, build_endpoints};
pub use error::{ConfigError, FieldError};
pub use forward_client_cert::{ForwardClientCert, XfccMode};
pub use http_filter::HttpFilter;
pub use listener::{FilterChainConfig, ListenerConfig, ListenerFilters, build_listener};
pub use network_filter::{
    HttpChain, NetworkFilter, RouteSource, TcpClusters, TcpProxyConfig, build_network_filter,
};
pub use transport_socket::{
    CertificateSource, PeerValidation, SanMatcher, TlsContext, TlsRole, TlsVersion,
    TransportSocket, TransportSocketMatch,
};

/// Everything the data path reads, as one immutable value: a request takes the
/// snapshot once and never sees half of an update.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub listeners: BTreeMap<String, Arc<ListenerConfig>>,
    pub route_tables: BTreeMap<String, Arc<RouteTable>>,
    pub clusters: BTreeMap<String, Arc<Cluster>>,
    /// The first complete sync has happened (every subscribed resource arrived once).
    pub synced: bool,
    pub versions: BTreeMap<&'static str, String>,
}

/// A cluster, its endpoints, its balancer and its connection pool.
pub struct Cluster {
    /// Shared with the xDS state: a push that leaves it unchanged reuses this cluster.
    pub config: Arc<ClusterConfig>,
    pub endpoints: Arc<[Endpoint]>,
    /// Indexes `endpoints`; locked only to pick a host and count requests in flight.
    pub balancer: Mutex<LoadBalancer>,
    pub runtime: Arc<ClusterRuntime>,
    /// The outlier detector's generation the balancer's health reflects.
    pub ejections_seen: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("config", &self.config)
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// The JSON shape of `/config_dump`: a summary of what is applied.
#[derive(Debug, Serialize)]
pub struct ConfigDump<'a> {
    pub synced: bool,
    pub versions: &'a BTreeMap<&'static str, String>,
    pub listeners: Vec<&'a ListenerConfig>,
    pub route_configs: Vec<RouteConfigSummary<'a>>,
    pub clusters: Vec<ClusterSummary<'a>>,
}

#[derive(Debug, Serialize)]
pub struct RouteConfigSummary<'a> {
    pub name: &'a str,
    pub virtual_hosts: Vec<VirtualHostSummary<'a>>,
}

#[derive(Debug, Serialize)]
pub struct VirtualHostSummary<'a> {
    pub name: &'a str,
    pub domains: &'a [String],
    pub routes: Vec<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct ClusterSummary<'a> {
    #[serde(flatten)]
    pub config: &'a ClusterConfig,
    pub endpoints: Vec<String>,
}

impl Snapshot {
    /// The listener a `use_original_dst` listener hands a connection to, as Envoy
    /// picks it: the one on exactly `destination`, else the wildcard address of the
    /// same family on its port; `None` keeps the connection where it is.
    pub fn hand_off_target(&self, destination: SocketAddr) -> Option<&Arc<ListenerConfig>> {
        let destination = match destination.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(destination, |v4| {
                SocketAddr::new(v4.into(), destination.port())
            }),
            IpAddr::V4(_) => destination,
        };
        let wildcard = SocketAddr::new(
            match destination.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            },
            destination.port(),
        );
        let on = |addr: SocketAddr| self.listeners.values().find(|l| l.address == addr);
        on(destination).or_else(|| on(wildcard))
    }

    pub fn config_dump(&self) -> ConfigDump<'_> {
        ConfigDump {
            synced: self.synced,
            versions: &self.versions,
            listeners: self.listeners.values().map(AsRef::as_ref).collect(),
            route_configs: self
                .route_tables
                .values()
                .map(|t| RouteConfigSummary {
                    name: &t.name,
                    virtual_hosts: t
                        .virtual_hosts
                        .iter()
                        .map(|vh| VirtualHostSummary {
                            name: &vh.name,
                            domains: &vh.domains,
                            routes: vh.routes.iter().map(|r| &*r.name).collect(),
                        })
                        .collect(),
                })
                .collect(),
            clusters: self
                .clusters
                .values()
                .map(|c| ClusterSummary {
                    config: &c.config,
                    endpoints: c.endpoints.iter().map(|e| e.address.to_string()).collect(),
                })
                .collect(),
        }
    }
}
