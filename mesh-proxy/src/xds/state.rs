//! What the proxy has accepted over xDS, per resource, and the snapshot built from it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use envoy_types::pb::envoy::config::cluster::v3::Cluster as ClusterProto;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryResponse, DiscoveryResponse, Resource,
};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION};
use crate::config::{
    Cluster, ClusterConfig, ClusterKind, Endpoint, ListenerConfig, NetworkFilter, RouteSource,
    Snapshot, build_cluster, build_endpoints, build_listener,
};
use crate::route::{RouteTable, build_route_table};
use crate::upstream::ClusterRuntime;

#[derive(Debug, Clone)]
struct Entry<T> {
    version: String,
    value: T,
}

/// Every accepted resource, by type and name. A rejected resource leaves the
/// previously accepted one of that name in place.
#[derive(Debug, Default)]
pub struct XdsState {
    listeners: BTreeMap<String, Entry<Arc<ListenerConfig>>>,
    route_tables: BTreeMap<String, Entry<Arc<RouteTable>>>,
    clusters: BTreeMap<String, Entry<ClusterConfig>>,
    endpoints: BTreeMap<String, Entry<Vec<Endpoint>>>,
    answered: BTreeSet<&'static str>,
    synced: bool,
    /// Told by DNS clusters when their addresses change: a new snapshot is due.
    pub dns_changed: Arc<tokio::sync::Notify>,
}

impl XdsState {
    /// Applies a response: every resource that converts is accepted; the error (for
    /// the NACK's `error_detail`) names each one that does not.
    pub fn apply(&mut self, resp: &DeltaDiscoveryResponse) -> Result<(), String> {
        let ty: &'static str = match resp.type_url.as_str() {
            CLUSTER => CLUSTER,
            LISTENER => LISTENER,
            ROUTE_CONFIGURATION => ROUTE_CONFIGURATION,
            CLUSTER_LOAD_ASSIGNMENT => CLUSTER_LOAD_ASSIGNMENT,
            other => return Err(format!("type {other:?} is not supported")),
        };
        self.answered.insert(ty);
        let mut errors = Vec::new();
        for r in &resp.resources {
            let Some(any) = &r.resource else { continue };
            if any.type_url != ty {
                errors.push(format!(
                    "resource {:?}: type {} in a {ty} response",
                    r.name, any.type_url
                ));
                continue;
            }
            let version = r.version.clone();
            let bytes = any.value.as_slice();
            let result = match ty {
                CLUSTER => ClusterProto::decode(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|c| build_cluster(&c))
                    .map(|value| {
                        self.clusters
                            .insert(value.name.clone(), Entry { version, value });
                    }),
                LISTENER => Listener::decode(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|l| build_listener(&l))
                    .map(|value| {
                        self.listeners.insert(
                            value.name.clone(),
                            Entry {
                                version,
                                value: Arc::new(value),
                            },
                        );
                    }),
                ROUTE_CONFIGURATION => RouteConfiguration::decode(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|rc| build_route_table(&rc).map_err(|e| e.to_string()))
                    .map(|value| {
                        self.route_tables.insert(
                            value.name.clone(),
                            Entry {
                                version,
                                value: Arc::new(value),
                            },
                        );
                    }),
                _ => ClusterLoadAssignment::decode(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|cla| Ok((cla.cluster_name.clone(), build_endpoints(&cla)?)))
                    .map(|(name, value)| {
                        self.endpoints.insert(name, Entry { version, value });
                    }),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        for name in &resp.removed_resources {
            match ty {
                CLUSTER => self.clusters.remove(name).map(drop),
                LISTENER => self.listeners.remove(name).map(drop),
                ROUTE_CONFIGURATION => self.route_tables.remove(name).map(drop),
                _ => self.endpoints.remove(name).map(drop),
            };
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Applies a State-of-the-World response as the Delta one it amounts to: every
    /// resource it carries, and for CDS and LDS (whose responses are complete) the
    /// removal of every resource it no longer carries.
    pub fn apply_sotw(&mut self, resp: &DiscoveryResponse) -> Result<(), String> {
        let mut named = Vec::with_capacity(resp.resources.len());
        let mut errors = Vec::new();
        for any in &resp.resources {
            match resource_name(&resp.type_url, any) {
                Ok(name) => named.push(Resource {
                    name,
                    version: resp.version_info.clone(),
                    resource: Some(any.clone()),
                    ..Default::default()
                }),
                Err(e) => errors.push(e),
            }
        }
        let present: BTreeSet<&str> = named.iter().map(|r| r.name.as_str()).collect();
        let held: Vec<String> = match resp.type_url.as_str() {
            CLUSTER => self.clusters.keys().cloned().collect(),
            LISTENER => self.listeners.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let removed_resources = held
            .into_iter()
            .filter(|n| !present.contains(n.as_str()))
            .collect();
        let delta = DeltaDiscoveryResponse {
            type_url: resp.type_url.clone(),
            resources: named,
            removed_resources,
            nonce: resp.nonce.clone(),
            ..Default::default()
        };
        let applied = self.apply(&delta);
        match (applied, errors.is_empty()) {
            (Ok(()), true) => Ok(()),
            (Ok(()), false) => Err(errors.join("; ")),
            (Err(e), _) => {
                errors.push(e);
                Err(errors.join("; "))
            }
        }
    }

    /// The ClusterLoadAssignments the accepted clusters need (Envoy subscribes EDS per
    /// EDS cluster).
    pub fn wanted_endpoints(&self) -> BTreeSet<String> {
        self.clusters
            .values()
            .filter_map(|c| match &c.value.kind {
                ClusterKind::Eds { service_name } => Some(service_name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The route configurations the accepted listeners name over RDS.
    pub fn wanted_route_configs(&self) -> BTreeSet<String> {
        self.listeners
            .values()
            .flat_map(|l| rds_names(&l.value))
            .cloned()
            .collect()
    }

    /// Whether a listener has everything it serves with: Envoy warms a listener until
    /// the route configs it names have arrived, and does not serve it before.
    fn listener_warm(&self, listener: &ListenerConfig) -> bool {
        rds_names(listener).all(|n| self.route_tables.contains_key(n))
    }

    /// Whether a cluster can take traffic: an EDS cluster warms until its endpoints
    /// have arrived (an empty assignment counts), as in Envoy.
    fn cluster_warm(&self, cluster: &ClusterConfig) -> bool {
        match &cluster.kind {
            ClusterKind::Eds { service_name } => self.endpoints.contains_key(service_name),
            _ => true,
        }
    }

    /// Versions of the accepted resources of a type, for a reconnect's
    /// `initial_resource_versions`.
    pub fn versions(&self, ty: &str) -> HashMap<String, String> {
        fn of<T>(m: &BTreeMap<String, Entry<T>>) -> HashMap<String, String> {
            m.iter()
                .map(|(k, e)| (k.clone(), e.version.clone()))
                .collect()
        }
        match ty {
            CLUSTER => of(&self.clusters),
            LISTENER => of(&self.listeners),
            ROUTE_CONFIGURATION => of(&self.route_tables),
            _ => of(&self.endpoints),
        }
    }

    /// True from the first time CDS and LDS have answered and every endpoint set and
    /// route config they need has arrived (Envoy's initialization), and ever after.
    pub fn synced(&mut self) -> bool {
        if !self.synced {
            self.synced = self.answered.contains(CLUSTER)
                && self.answered.contains(LISTENER)
                && self
                    .wanted_endpoints()
                    .iter()
                    .all(|n| self.endpoints.contains_key(n))
                && self
                    .wanted_route_configs()
                    .iter()
                    .all(|n| self.route_tables.contains_key(n));
        }
        self.synced
    }

    /// The snapshot of everything accepted and warm; connection pools of unchanged
    /// clusters are carried over from `previous`. While a new version of a listener or
    /// cluster warms, the one in `previous` keeps serving; a new one is left out.
    pub fn snapshot(&mut self, previous: &Snapshot) -> Snapshot {
        let clusters = self
            .clusters
            .iter()
            .filter_map(|(name, e)| {
                if self.cluster_warm(&e.value) {
                    Some(self.cluster(name, e, previous))
                } else {
                    previous
                        .clusters
                        .get(name)
                        .map(|c| (name.clone(), c.clone()))
                }
            })
            .collect();
        let version = |m: Vec<&String>| m.into_iter().max().cloned().unwrap_or_default();
        let versions = BTreeMap::from([
            (
                CLUSTER,
                version(self.clusters.values().map(|e| &e.version).collect()),
            ),
            (
                LISTENER,
                version(self.listeners.values().map(|e| &e.version).collect()),
            ),
            (
                ROUTE_CONFIGURATION,
                version(self.route_tables.values().map(|e| &e.version).collect()),
            ),
            (
                CLUSTER_LOAD_ASSIGNMENT,
                version(self.endpoints.values().map(|e| &e.version).collect()),
            ),
        ]);
        Snapshot {
            listeners: self
                .listeners
                .iter()
                .filter_map(|(name, e)| {
                    if self.listener_warm(&e.value) {
                        Some((name.clone(), e.value.clone()))
                    } else {
                        previous
                            .listeners
                            .get(name)
                            .map(|l| (name.clone(), l.clone()))
                    }
                })
                .collect(),
            route_tables: self
                .route_tables
                .iter()
                .map(|(k, e)| (k.clone(), e.value.clone()))
                .collect(),
            clusters,
            synced: self.synced(),
            versions,
        }
    }

    /// The runnable cluster for an accepted, warm cluster config.
    fn cluster(
        &self,
        name: &str,
        e: &Entry<ClusterConfig>,
        previous: &Snapshot,
    ) -> (String, Arc<Cluster>) {
        let config = e.value.clone();
        let runtime = previous
            .clusters
            .get(name)
            .map(|c| &c.runtime)
            .filter(|r| r.fits(&config))
            .cloned()
            .unwrap_or_else(|| Arc::new(ClusterRuntime::new(&config, &self.dns_changed)));
        let endpoints = match &config.kind {
            ClusterKind::Eds { service_name } => self
                .endpoints
                .get(service_name)
                .map(|e| e.value.clone())
                .unwrap_or_default(),
            ClusterKind::Static { endpoints } => endpoints.clone(),
            ClusterKind::OriginalDst => Vec::new(),
            ClusterKind::Dns { .. } => runtime.dns_endpoints(),
        };
        let balancer = crate::upstream::load_balancer(&config, &endpoints);
        runtime.watch_hosts(endpoints.iter().map(|e| e.address));
        (
            name.to_string(),
            Arc::new(Cluster {
                config,
                endpoints,
                balancer,
                runtime,
                // Not yet in step with the detector: the first pick syncs.
                ejections_seen: u64::MAX.into(),
            }),
        )
    }
}

/// The route configurations a listener's HTTP filter chains name over RDS.
fn rds_names(listener: &ListenerConfig) -> impl Iterator<Item = &String> {
    listener
        .filter_chains
        .iter()
        .chain(&listener.default_filter_chain)
        .filter_map(|c| match &c.filter {
            NetworkFilter::Http(hcm) => match &hcm.routes {
                RouteSource::Rds(name) => Some(name),
                RouteSource::Inline(_) => None,
            },
            NetworkFilter::TcpProxy(_) => None,
        })
}

/// The name of a SotW resource, from inside it (SotW responses carry no names).
fn resource_name(type_url: &str, any: &Any) -> Result<String, String> {
    let bytes = any.value.as_slice();
    let name = match type_url {
        CLUSTER => ClusterProto::decode(bytes).map(|c| c.name),
        LISTENER => Listener::decode(bytes).map(|l| l.name),
        ROUTE_CONFIGURATION => RouteConfiguration::decode(bytes).map(|r| r.name),
        CLUSTER_LOAD_ASSIGNMENT => ClusterLoadAssignment::decode(bytes).map(|c| c.cluster_name),
        other => return Err(format!("type {other:?} is not supported")),
    };
    name.map_err(|e| format!("a {type_url} resource cannot be decoded: {e}"))
}
