//! One proxy's resources, encoded once for the wire, with the versions the ADS
//! protocols need: per resource (Delta) and per type (State of the World).

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hasher};
use std::sync::{Arc, Mutex, Weak};

use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::xds_type::{PerType, XdsType};
use crate::xds::resources::ProxyResources;

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
pub type Resources = BTreeMap<String, Arc<EncodedResource>>;

/// Everything one proxy should have, for one config version.
#[derive(Debug, Clone, Default)]
pub struct ProxySnapshot {
    /// The config version the resources were translated from.
    pub config_version: u64,
    resources: PerType<Arc<Resources>>,
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
    fn intern(&self, name: &str, body: Vec<u8>) -> Arc<EncodedResource> {
        let hash = hash_bytes(&body);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let live = state.by_hash.get(&hash).and_then(|candidates| {
            candidates
                .iter()
                .filter_map(Weak::upgrade)
                .find(|r| r.name == name && r.body == body)
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

impl ProxySnapshot {
    /// Encodes the translator's output once, for every response that carries it.
    pub fn encode(
        config_version: u64,
        resources: &ProxyResources,
        interner: &ResourceInterner,
    ) -> ProxySnapshot {
        fn by_name<M: Message>(
            items: &[M],
            name: impl Fn(&M) -> &str,
            interner: &ResourceInterner,
        ) -> Arc<Resources> {
            Arc::new(
                items
                    .iter()
                    .map(|m| {
                        let name = name(m);
                        (name.to_string(), interner.intern(name, m.encode_to_vec()))
                    })
                    .collect(),
            )
        }
        let mut snapshot = ProxySnapshot {
            config_version,
            resources: PerType::default(),
        };
        snapshot.resources[XdsType::Cluster] = by_name(&resources.clusters, |c| &c.name, interner);
        snapshot.resources[XdsType::Endpoint] =
            by_name(&resources.endpoints, |e| &e.cluster_name, interner);
        snapshot.resources[XdsType::Listener] =
            by_name(&resources.listeners, |l| &l.name, interner);
        snapshot.resources[XdsType::Route] = by_name(&resources.routes, |r| &r.name, interner);
        snapshot
    }

    pub fn resources(&self, ty: XdsType) -> &Arc<Resources> {
        &self.resources[ty]
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
