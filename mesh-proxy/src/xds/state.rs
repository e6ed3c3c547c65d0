//! What the proxy has accepted over xDS, per type and resource, and the snapshot
//! built from it. Responses are dispatched by [`XdsType`]; each type's resources go
//! through its own [`ResourceType`](super::resource::ResourceType).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryResponse, DiscoveryResponse};

use super::resource::{
    Accepted, Applied, ClusterType, EndpointsType, Entry, ListenerType, RouteConfigurationType,
    XdsType,
};
use crate::config::{
    Cluster, ClusterConfig, ClusterKind, Endpoint, ListenerConfig, NetworkFilter, RouteSource,
    Snapshot,
};
use crate::stats::Stats;
use crate::tls::TlsContexts;
use crate::upstream::ClusterRuntime;

/// Every accepted resource, by type and name. A rejected resource leaves the
/// previously accepted one of that name in place.
#[derive(Debug, Default)]
pub struct XdsState {
    listeners: Accepted<ListenerType>,
    route_tables: Accepted<RouteConfigurationType>,
    clusters: Accepted<ClusterType>,
    endpoints: Accepted<EndpointsType>,
    answered: BTreeSet<XdsType>,
    synced: bool,
    /// Told by DNS clusters when their addresses change: a new snapshot is due.
    pub dns_changed: Arc<tokio::sync::Notify>,
    /// The TLS contexts clusters originate TLS with.
    pub tls: Arc<TlsContexts>,
    /// Where clusters count their TLS handshakes.
    pub stats: Arc<Stats>,
}

impl XdsState {
    /// Applies a Delta response: every resource that converts is accepted; the error
    /// (for the NACK's `error_detail`) names each one that does not.
    pub fn apply(&mut self, resp: &DeltaDiscoveryResponse) -> Result<(), String> {
        let ty = known_type(&resp.type_url)?;
        let resources = resp
            .resources
            .iter()
            .filter_map(|r| Some((r.version.as_str(), r.resource.as_ref()?)));
        let applied = self.apply_type(ty, resources, &resp.removed_resources)?;
        joined(applied.errors)
    }

    /// Applies a State-of-the-World response as the Delta one it amounts to: every
    /// resource it carries, and for CDS and LDS (whose responses are complete) the
    /// removal of every resource it no longer carries.
    pub fn apply_sotw(&mut self, resp: &DiscoveryResponse) -> Result<(), String> {
        let ty = known_type(&resp.type_url)?;
        let version = resp.version_info.as_str();
        let resources = resp.resources.iter().map(|any| (version, any));
        let mut applied = self.apply_type(ty, resources, &[])?;
        if ty.sotw_complete() {
            let held: Vec<String> = match ty {
                XdsType::Cluster => self.clusters.names().cloned().collect(),
                _ => self.listeners.names().cloned().collect(),
            };
            let gone: Vec<String> = held
                .into_iter()
                .filter(|n| !applied.names.contains(n))
                .collect();
            let removal = self.apply_type(ty, [], &gone)?;
            applied.errors.extend(removal.errors);
        }
        joined(applied.errors)
    }

    fn apply_type<'a>(
        &mut self,
        ty: XdsType,
        resources: impl IntoIterator<Item = (&'a str, &'a envoy_types::pb::google::protobuf::Any)>,
        removed: &'a [String],
    ) -> Result<Applied, String> {
        let applied = match ty {
            XdsType::Cluster => self.clusters.apply(resources, removed),
            XdsType::Endpoints => self.endpoints.apply(resources, removed),
            XdsType::Listener => self.listeners.apply(resources, removed),
            XdsType::RouteConfiguration => self.route_tables.apply(resources, removed),
            XdsType::Secret => {
                return Err(
                    "SDS secrets are not applied by this proxy yet: TLS arrives with workload identity"
                        .into(),
                );
            }
        };
        self.answered.insert(ty);
        Ok(applied)
    }

    /// The ClusterLoadAssignments the accepted clusters need (Envoy subscribes EDS per
    /// EDS cluster).
    pub fn wanted_endpoints(&self) -> BTreeSet<String> {
        self.clusters
            .iter()
            .filter_map(|(_, c)| match &c.value.kind {
                ClusterKind::Eds { service_name } => Some(service_name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The route configurations the accepted listeners name over RDS.
    pub fn wanted_route_configs(&self) -> BTreeSet<String> {
        self.listeners
            .iter()
            .flat_map(|(_, l)| rds_names(&l.value))
            .cloned()
            .collect()
    }

    /// The names to subscribe to for `ty`: everything (wildcard, no names) for CDS
    /// and LDS, what they need for EDS and RDS.
    pub fn wanted(&self, ty: XdsType) -> BTreeSet<String> {
        match ty {
            XdsType::Endpoints => self.wanted_endpoints(),
            XdsType::RouteConfiguration => self.wanted_route_configs(),
            XdsType::Cluster | XdsType::Listener | XdsType::Secret => BTreeSet::new(),
        }
    }

    /// Whether a listener has everything it serves with: Envoy warms a listener until
    /// the route configs it names have arrived, and does not serve it before.
    fn listener_warm(&self, listener: &ListenerConfig) -> bool {
        rds_names(listener).all(|n| self.route_tables.contains(n))
    }

    /// Whether a cluster can take traffic: an EDS cluster warms until its endpoints
    /// have arrived (an empty assignment counts), as in Envoy.
    fn cluster_warm(&self, cluster: &ClusterConfig) -> bool {
        match &cluster.kind {
            ClusterKind::Eds { service_name } => self.endpoints.contains(service_name),
            _ => true,
        }
    }

    /// Versions of the accepted resources of a type, for a reconnect's
    /// `initial_resource_versions`.
    pub fn versions(&self, ty: XdsType) -> HashMap<String, String> {
        match ty {
            XdsType::Cluster => self.clusters.versions(),
            XdsType::Listener => self.listeners.versions(),
            XdsType::RouteConfiguration => self.route_tables.versions(),
            XdsType::Endpoints => self.endpoints.versions(),
            XdsType::Secret => HashMap::new(),
        }
    }

    /// True from the first time CDS and LDS have answered and every endpoint set and
    /// route config they need has arrived (Envoy's initialization), and ever after.
    pub fn synced(&mut self) -> bool {
        if !self.synced {
            self.synced = self.answered.contains(&XdsType::Cluster)
                && self.answered.contains(&XdsType::Listener)
                && self
                    .wanted_endpoints()
                    .iter()
                    .all(|n| self.endpoints.contains(n))
                && self
                    .wanted_route_configs()
                    .iter()
                    .all(|n| self.route_tables.contains(n));
        }
        self.synced
    }

    /// The snapshot of everything accepted and warm. A cluster whose config and
    /// endpoints did not change is `previous`'s own (its balancer keeps its state);
    /// a changed one keeps its connection pool and outlier state when they fit. While
    /// a new version of a listener or cluster warms, the one in `previous` keeps
    /// serving; a new one is left out.
    pub fn snapshot(&mut self, previous: &Snapshot) -> Snapshot {
        let clusters = self
            .clusters
            .iter()
            .filter_map(|(name, e)| {
                if self.cluster_warm(&e.value) {
                    Some((name.clone(), self.cluster(name, e, previous)))
                } else {
                    previous
                        .clusters
                        .get(name)
                        .map(|c| (name.clone(), c.clone()))
                }
            })
            .collect();
        let listeners = self
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
            .collect();
        let versions = BTreeMap::from([
            (XdsType::Cluster.type_url(), self.clusters.latest_version()),
            (
                XdsType::Listener.type_url(),
                self.listeners.latest_version(),
            ),
            (
                XdsType::RouteConfiguration.type_url(),
                self.route_tables.latest_version(),
            ),
            (
                XdsType::Endpoints.type_url(),
                self.endpoints.latest_version(),
            ),
        ]);
        Snapshot {
            listeners,
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

    /// The runnable cluster for an accepted, warm cluster config: `previous`'s when
    /// neither its config nor its endpoints changed.
    fn cluster(
        &self,
        name: &str,
        e: &Entry<Arc<ClusterConfig>>,
        previous: &Snapshot,
    ) -> Arc<Cluster> {
        let config = &e.value;
        let before = previous.clusters.get(name);
        let runtime = before
            .map(|c| &c.runtime)
            .filter(|r| r.fits(config))
            .cloned()
            .unwrap_or_else(|| {
                Arc::new(ClusterRuntime::new(
                    config,
                    &self.dns_changed,
                    &self.tls,
                    &self.stats,
                ))
            });
        let endpoints: Arc<[Endpoint]> = match &config.kind {
            ClusterKind::Eds { service_name } => self
                .endpoints
                .get(service_name)
                .map_or_else(|| Arc::from([]), |e| e.value.clone()),
            ClusterKind::Static { endpoints } => Arc::from(endpoints.as_slice()),
            ClusterKind::OriginalDst => Arc::from([]),
            ClusterKind::Dns { .. } => Arc::from(runtime.dns_endpoints()),
        };
        if let Some(before) = before
            && Arc::ptr_eq(&before.config, config)
            && Arc::ptr_eq(&before.runtime, &runtime)
            && before.endpoints == endpoints
        {
            return before.clone();
        }
        let balancer = crate::upstream::load_balancer(config, &endpoints);
        runtime.set_endpoints(&endpoints);
        Arc::new(Cluster {
            config: config.clone(),
            endpoints,
            balancer,
            runtime,
            // Not yet in step with the detector: the first pick syncs.
            ejections_seen: u64::MAX.into(),
        })
    }
}

/// The type of a response, or the NACK's reason for a type this proxy does not know.
fn known_type(type_url: &str) -> Result<XdsType, String> {
    XdsType::from_type_url(type_url).ok_or_else(|| format!("type {type_url:?} is not supported"))
}

fn joined(errors: Vec<String>) -> Result<(), String> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
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
