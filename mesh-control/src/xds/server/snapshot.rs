//! One proxy's resources, encoded once for the wire, with the versions the ADS
//! protocols need: per resource (Delta) and per type (State of the World). The
//! outbound resources are encoded once per scope and shared by its proxies
//! ([`Resources`] layers them with each proxy's own); equal resources of different
//! scopes share one allocation ([`ResourceInterner`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Arc, Mutex, Weak};

use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::xds_type::{PerType, XdsType};
use crate::xds::resources::ProxyResources;

mod canonical;

/// A resource as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedResource {
    pub name: String,
    /// Hash of the encoded bytes, in hex: equal bytes, equal version.
    pub version: String,
    /// The protobuf encoding of the resource.
    pub body: Vec<u8>,
}

/// Resources of one type, by name.
pub type ResourceMap = BTreeMap<String, Arc<EncodedResource>>;

/// Resources of one type for one proxy, by name: a map shared by every proxy of a
/// scope (the outbound resources) and a small one of the proxy's own (its inbound
/// side), so that a thousand proxies do not hold a thousand copies of the mesh.
/// Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    shared: Arc<Layer>,
    /// No name of `shared` is here.
    own: Arc<Layer>,
}

/// Resources by name with their [`content_hash`], computed once for every proxy
/// that shares them.
#[derive(Debug, Default)]
pub struct Layer {
    map: ResourceMap,
    hash: u64,
}

/// The resources of every type of one scope, shared by its proxies.
pub type ScopeResources = PerType<Arc<Layer>>;

/// Everything one proxy should have, for one config version.
#[derive(Debug, Clone, Default)]
pub struct ProxySnapshot {
    /// The config version the resources were translated from.
    pub config_version: u64,
    resources: PerType<Resources>,
    /// How this snapshot differs from the one it was made from, when known: a
    /// connection then looks only at what changed instead of at every resource.
    change: Option<SnapshotChange>,
    /// What the next snapshot can be made from, without translating everything.
    pub(crate) basis: Option<Arc<super::push::SnapshotBasis>>,
}

/// How a snapshot differs from the one of `base_version` it was made from.
#[derive(Debug, Clone)]
pub struct SnapshotChange {
    pub base_version: u64,
    pub types: PerType<TypeChange>,
}

/// How the resources of one type differ from the base snapshot's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TypeChange {
    /// The same resources.
    Unchanged,
    /// The same names; only these resources' contents may differ.
    Resources(BTreeSet<String>),
    /// Anything may differ.
    #[default]
    Any,
}

/// Lets equal resources of different proxies share one allocation: in a mesh of a
/// thousand proxies most clusters and endpoints are the same bytes for all of them.
#[derive(Debug, Default)]
pub struct ResourceInterner {
    state: Mutex<InternerState>,
}

#[derive(Debug, Default)]
struct InternerState {
    by_hash: HashMap<u64, Vec<Weak<EncodedResource>>>,
    /// Insertions since dead entries were last swept.
    inserted: usize,
}

impl ResourceInterner {
    /// The shared copy of `name` with `body`, made if no live one exists.
    /// `canonical` is set for messages with map fields, whose encoding lists the
    /// entries in any order: equal values, equal canonical bytes, so the version
    /// follows the value and an equal live copy is reused whatever its byte order.
    fn intern(
        &self,
        name: &str,
        body: Vec<u8>,
        canonical: Option<Vec<u8>>,
    ) -> Arc<EncodedResource> {
        let hash = hash_bytes(canonical.as_deref().unwrap_or(&body));
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let live = state.by_hash.get(&hash).and_then(|candidates| {
            // With canonical bytes the 64-bit hash of them stands for the value: the
            // chance that two different resources of one name collide is ~2^-64.
            candidates
                .iter()
                .filter_map(Weak::upgrade)
                .find(|r| r.name == name && (canonical.is_some() || r.body == body))
        });
        if let Some(live) = live {
            return live;
        }
        let resource = Arc::new(EncodedResource {
            name: name.to_string(),
            version: format!("{hash:016x}"),
            body,
        });
        state
            .by_hash
            .entry(hash)
            .or_default()
            .push(Arc::downgrade(&resource));
        state.inserted += 1;
        // Sweep once as many insertions as there are entries: amortised O(1).
        if state.inserted > state.by_hash.len() {
            state.by_hash.retain(|_, candidates| {
                candidates.retain(|w| w.strong_count() > 0);
                !candidates.is_empty()
            });
            state.inserted = 0;
        }
        resource
    }

    /// How many distinct resources are alive.
    pub fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .by_hash
            .values()
            .flatten()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl EncodedResource {
    pub fn to_any(&self, ty: XdsType) -> Any {
        Any {
            type_url: ty.type_url().to_string(),
            value: self.body.clone(),
        }
    }
}

impl Resources {
    /// The layer shared by the proxies of a scope.
    pub fn shared(&self) -> &Arc<Layer> {
        &self.shared
    }

    /// The proxy's own resources.
    pub fn own(&self) -> &ResourceMap {
        &self.own.map
    }

    /// `shared` plus `own`; where both have a name, `shared`'s wins.
    pub fn new(shared: Arc<Layer>, mut own: ResourceMap) -> Resources {
        own.retain(|name, _| !shared.map.contains_key(name));
        Resources {
            shared,
            own: Arc::new(Layer::new(own)),
        }
    }

    /// A digest of the names and versions: changes whenever any of them changes.
    pub fn content_hash(&self) -> u64 {
        if self.own.map.is_empty() {
            return self.shared.hash;
        }
        let mut h = DefaultHasher::new();
        h.write_u64(self.shared.hash);
        h.write_u64(self.own.hash);
        h.finish()
    }

    /// Whether both are the very same maps (not merely equal ones).
    pub fn same_maps(&self, other: &Resources) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared) && Arc::ptr_eq(&self.own, &other.own)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<EncodedResource>> {
        self.shared.map.get(name).or_else(|| self.own.map.get(name))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.shared.map.len() + self.own.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The resources in name order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<EncodedResource>> {
        let mut shared = self.shared.map.values().peekable();
        let mut own = self.own.map.values().peekable();
        std::iter::from_fn(move || match (shared.peek(), own.peek()) {
            (Some(s), Some(o)) if o.name < s.name => own.next(),
            (Some(_), _) => shared.next(),
            (None, _) => own.next(),
        })
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.values().map(|r| &r.name)
    }

    /// The resources named in `names`. Shares the maps when `names` covers them all,
    /// the usual case (Envoy asks for the endpoints of every EDS cluster).
    pub fn select(&self, names: &BTreeSet<String>) -> Resources {
        if self.keys().all(|name| names.contains(name)) {
            return self.clone();
        }
        let pick = |map: &ResourceMap| -> ResourceMap {
            names
                .iter()
                .filter_map(|name| Some((name.clone(), map.get(name)?.clone())))
                .collect()
        };
        Resources {
            shared: Arc::new(Layer::new(pick(&self.shared.map))),
            own: Arc::new(Layer::new(pick(&self.own.map))),
        }
    }

    /// The resources whose names `keep` says yes to; shares the maps when that is
    /// all of them.
    pub fn select_where(&self, keep: impl Fn(&str) -> bool) -> Resources {
        if self.keys().all(|name| keep(name)) {
            return self.clone();
        }
        let pick = |map: &ResourceMap| -> ResourceMap {
            map.iter()
                .filter(|(name, _)| keep(name))
                .map(|(name, r)| (name.clone(), r.clone()))
                .collect()
        };
        Resources {
            shared: Arc::new(Layer::new(pick(&self.shared.map))),
            own: Arc::new(Layer::new(pick(&self.own.map))),
        }
    }
}

impl std::ops::Index<&str> for Resources {
    type Output = Arc<EncodedResource>;

    /// Panics when `name` is not here, as a map's index does.
    fn index(&self, name: &str) -> &Arc<EncodedResource> {
        match self.get(name) {
            Some(r) => r,
            None => panic!("no resource named {name:?}"),
        }
    }
}

impl From<ResourceMap> for Resources {
    fn from(map: ResourceMap) -> Resources {
        Resources {
            shared: Arc::new(Layer::new(map)),
            own: Arc::default(),
        }
    }
}

impl Layer {
    pub fn new(map: ResourceMap) -> Layer {
        let hash = content_hash(map.values().map(|r| &**r));
        Layer { map, hash }
    }

    /// This layer with the resources of `replacements` put in place of those of the
    /// same name (or added).
    pub fn patched(&self, replacements: ResourceMap) -> Layer {
        let mut map = self.map.clone();
        map.extend(replacements);
        Layer::new(map)
    }

    pub fn map(&self) -> &ResourceMap {
        &self.map
    }
}

impl ProxySnapshot {
    /// Encodes the translator's output once, for every response that carries it.
    pub fn encode(
        config_version: u64,
        resources: &ProxyResources,
        interner: &ResourceInterner,
    ) -> ProxySnapshot {
        ProxySnapshot {
            config_version,
            resources: PerType::from_fn(|ty| Resources::from(encode_type(resources, ty, interner))),
            change: None,
            basis: None,
        }
    }

    /// A proxy's snapshot from its scope's resources and its own.
    pub fn layered(
        config_version: u64,
        shared: &ScopeResources,
        own: PerType<ResourceMap>,
    ) -> ProxySnapshot {
        let mut own = own;
        ProxySnapshot {
            config_version,
            resources: PerType::from_fn(|ty| {
                Resources::new(shared[ty].clone(), std::mem::take(&mut own[ty]))
            }),
            change: None,
            basis: None,
        }
    }

    /// Says how this snapshot differs from the one of `base_version`.
    pub fn with_change(mut self, base_version: u64, types: PerType<TypeChange>) -> ProxySnapshot {
        self.change = Some(SnapshotChange {
            base_version,
            types,
        });
        self
    }

    /// How this snapshot differs from the one of `base_version`, if known.
    pub fn change_from(&self, base_version: u64) -> Option<&PerType<TypeChange>> {
        self.change
            .as_ref()
            .filter(|c| c.base_version == base_version)
            .map(|c| &c.types)
    }

    pub fn resources(&self, ty: XdsType) -> &Resources {
        &self.resources[ty]
    }
}

/// Encodes the resources of one type, sharing equal ones through `interner`.
pub fn encode_type(
    resources: &ProxyResources,
    ty: XdsType,
    interner: &ResourceInterner,
) -> ResourceMap {
    fn by_name<M: Message>(
        items: &[M],
        name: impl Fn(&M) -> &str,
        canonical: impl Fn(&M) -> Option<Vec<u8>>,
        interner: &ResourceInterner,
    ) -> ResourceMap {
        items
            .iter()
            .map(|m| {
                let name = name(m);
                let resource = interner.intern(name, m.encode_to_vec(), canonical(m));
                (name.to_string(), resource)
            })
            .collect()
    }
    match ty {
        XdsType::Cluster => by_name(
            &resources.clusters,
            |c| &c.name,
            canonical::cluster,
            interner,
        ),
        XdsType::Endpoint => by_name(
            &resources.endpoints,
            |e| &e.cluster_name,
            |_| None,
            interner,
        ),
        XdsType::Listener => by_name(&resources.listeners, |l| &l.name, |_| None, interner),
        XdsType::Route => by_name(
            &resources.routes,
            |r| &r.name,
            canonical::route_configuration,
            interner,
        ),
    }
}

/// A digest of a set of resources: changes whenever any name or content changes.
pub fn content_hash<'a>(resources: impl IntoIterator<Item = &'a EncodedResource>) -> u64 {
    let mut h = DefaultHasher::new();
    for r in resources {
        h.write(r.name.as_bytes());
        h.write_u8(0);
        h.write(r.version.as_bytes());
        h.write_u8(0);
    }
    h.finish()
}

/// The version string of a response: the config version it came from, then the
/// content hash, so that equal content pushed from a newer config is still
/// recognisable (`7-3f2a9c1e5b6d7e8f`).
pub fn type_version(config_version: u64, content_hash: u64) -> String {
    format!("{config_version}-{content_hash:016x}")
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    // DefaultHasher::new() has fixed keys: the same bytes give the same version in
    // every process, so a restarted control plane agrees with Delta clients'
    // `initial_resource_versions`.
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::cluster::v3::Cluster;

    use super::*;

    fn cluster(name: &str, timeout_secs: i64) -> Cluster {
        Cluster {
            name: name.to_string(),
            connect_timeout: Some(envoy_types::pb::google::protobuf::Duration {
                seconds: timeout_secs,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn versions_follow_content_not_config_version() {
        let one = ProxyResources {
            clusters: vec![cluster("a", 1), cluster("b", 1)],
            ..Default::default()
        };
        let mut two = one.clone();
        two.clusters[1] = cluster("b", 2);
        let interner = ResourceInterner::default();
        let s1 = ProxySnapshot::encode(1, &one, &interner);
        let s2 = ProxySnapshot::encode(2, &two, &interner);
        assert!(
            Arc::ptr_eq(
                &s1.resources(XdsType::Cluster)["a"],
                &s2.resources(XdsType::Cluster)["a"]
            ),
            "equal resources are shared"
        );
        assert_eq!(interner.len(), 3);
        let (c1, c2) = (
            s1.resources(XdsType::Cluster),
            s2.resources(XdsType::Cluster),
        );
        assert_eq!(c1["a"].version, c2["a"].version);
        assert_ne!(c1["b"].version, c2["b"].version);
        assert_ne!(
            content_hash(c1.values().map(|r| &**r)),
            content_hash(c2.values().map(|r| &**r))
        );
        assert_eq!(
            content_hash(c1.values().map(|r| &**r)),
            content_hash(
                ProxySnapshot::encode(9, &one, &interner)
                    .resources(XdsType::Cluster)
                    .values()
                    .map(|r| &**r)
            )
        );
        assert_eq!(type_version(7, 0xab), "7-00000000000000ab");
    }
}
