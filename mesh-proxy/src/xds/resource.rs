//! Each xDS resource type as this proxy applies it: how one is decoded, named and
//! converted ([`ResourceType`], one implementation per type, as ztunnel's
//! `Handler<T>`), and the accepted resources of one type ([`Accepted`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use envoy_types::pb::envoy::config::cluster::v3::Cluster as ClusterProto;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::google::protobuf::Any;
use mesh_api::xds::type_url;
use prost::Message;

use crate::config::{
    ClusterConfig, ConfigError, Endpoint, ListenerConfig, build_cluster, build_endpoints,
    build_listener,
};
use crate::route::{RouteTable, build_route_table};

/// The types a response can carry. Every variant is handled explicitly: an unknown
/// type URL is no variant at all, and is NACKed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum XdsType {
    /// CDS.
    Cluster,
    /// EDS.
    Endpoints,
    /// LDS.
    Listener,
    /// RDS.
    RouteConfiguration,
    /// SDS: recognized, not applied yet (workload certificates arrive with mTLS).
    Secret,
}

impl XdsType {
    /// The types this proxy subscribes to over ADS, in Envoy's order.
    pub const SUBSCRIBED: [XdsType; 4] = [
        XdsType::Cluster,
        XdsType::Listener,
        XdsType::Endpoints,
        XdsType::RouteConfiguration,
    ];

    pub fn type_url(self) -> &'static str {
        match self {
            XdsType::Cluster => type_url::CLUSTER,
            XdsType::Endpoints => type_url::CLUSTER_LOAD_ASSIGNMENT,
            XdsType::Listener => type_url::LISTENER,
            XdsType::RouteConfiguration => type_url::ROUTE_CONFIGURATION,
            XdsType::Secret => type_url::SECRET,
        }
    }

    pub fn from_type_url(url: &str) -> Option<XdsType> {
        [
            XdsType::Cluster,
            XdsType::Endpoints,
            XdsType::Listener,
            XdsType::RouteConfiguration,
            XdsType::Secret,
        ]
        .into_iter()
        .find(|t| t.type_url() == url)
    }

    /// CDS and LDS are subscribed by wildcard (no names); EDS and RDS by the names
    /// the clusters and listeners give, once there are any.
    pub fn wildcard(self) -> bool {
        matches!(self, XdsType::Cluster | XdsType::Listener)
    }

    /// The type whose subscription follows this one's resources: a cluster names its
    /// endpoints, a listener its route configs.
    pub fn dependent(self) -> Option<XdsType> {
        match self {
            XdsType::Cluster => Some(XdsType::Endpoints),
            XdsType::Listener => Some(XdsType::RouteConfiguration),
            _ => None,
        }
    }

    /// Whether a State-of-the-World response of this type lists every resource (so
    /// that one it no longer lists is removed): LDS and CDS, as in Envoy.
    pub fn sotw_complete(self) -> bool {
        matches!(self, XdsType::Cluster | XdsType::Listener)
    }
}

/// One resource type: its proto, its name, and what the proxy makes of it.
pub(crate) trait ResourceType {
    const TYPE: XdsType;
    type Proto: Message + Default;
    /// What the proxy keeps of an accepted resource; shared with the snapshots.
    type Value: Clone;

    /// The name the resource is kept by, from inside it (SotW responses carry no
    /// names; a ClusterLoadAssignment goes by its `cluster_name`).
    fn name(proto: &Self::Proto) -> &str;

    fn convert(proto: &Self::Proto) -> Result<Self::Value, ConfigError>;
}

#[derive(Debug)]
pub(crate) struct ClusterType;
#[derive(Debug)]
pub(crate) struct EndpointsType;
#[derive(Debug)]
pub(crate) struct ListenerType;
#[derive(Debug)]
pub(crate) struct RouteConfigurationType;

impl ResourceType for ClusterType {
    const TYPE: XdsType = XdsType::Cluster;
    type Proto = ClusterProto;
    type Value = Arc<ClusterConfig>;

    fn name(proto: &ClusterProto) -> &str {
        &proto.name
    }

    fn convert(proto: &ClusterProto) -> Result<Self::Value, ConfigError> {
        build_cluster(proto).map(Arc::new)
    }
}

impl ResourceType for EndpointsType {
    const TYPE: XdsType = XdsType::Endpoints;
    type Proto = ClusterLoadAssignment;
    type Value = Arc<[Endpoint]>;

    fn name(proto: &ClusterLoadAssignment) -> &str {
        &proto.cluster_name
    }

    fn convert(proto: &ClusterLoadAssignment) -> Result<Self::Value, ConfigError> {
        build_endpoints(proto).map(Arc::from)
    }
}

impl ResourceType for ListenerType {
    const TYPE: XdsType = XdsType::Listener;
    type Proto = Listener;
    type Value = Arc<ListenerConfig>;

    fn name(proto: &Listener) -> &str {
        &proto.name
    }

    fn convert(proto: &Listener) -> Result<Self::Value, ConfigError> {
        build_listener(proto).map(Arc::new)
    }
}

impl ResourceType for RouteConfigurationType {
    const TYPE: XdsType = XdsType::RouteConfiguration;
    type Proto = RouteConfiguration;
    type Value = Arc<RouteTable>;

    fn name(proto: &RouteConfiguration) -> &str {
        &proto.name
    }

    fn convert(proto: &RouteConfiguration) -> Result<Self::Value, ConfigError> {
        build_route_table(proto).map(Arc::new)
    }
}

/// An accepted resource and the version it came with.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub(crate) version: String,
    pub(crate) value: T,
}

/// The accepted resources of one type, by name. A refused resource leaves the one
/// accepted before under its name in place.
#[derive(Debug)]
pub(crate) struct Accepted<T: ResourceType> {
    entries: BTreeMap<String, Entry<T::Value>>,
}

/// What applying one response did.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// Why each refused resource was refused (the NACK's `error_detail`).
    pub(crate) errors: Vec<String>,
    /// The names of the resources the response carried, accepted or not.
    pub(crate) names: BTreeSet<String>,
}

impl<T: ResourceType> Default for Accepted<T> {
    fn default() -> Self {
        Accepted {
            entries: BTreeMap::new(),
        }
    }
}

impl<T: ResourceType> Accepted<T> {
    /// Decodes, converts and keeps each resource (`version`, body); removes the
    /// named ones.
    pub(crate) fn apply<'a>(
        &mut self,
        resources: impl IntoIterator<Item = (&'a str, &'a Any)>,
        removed: impl IntoIterator<Item = &'a String>,
    ) -> Applied {
        let mut applied = Applied::default();
        let expected = T::TYPE.type_url();
        for (version, any) in resources {
            if any.type_url != expected {
                applied.errors.push(format!(
                    "a resource of type {} in a {expected} response",
                    any.type_url
                ));
                continue;
            }
            let proto = match T::Proto::decode(any.value.as_slice()) {
                Ok(p) => p,
                Err(e) => {
                    applied
                        .errors
                        .push(format!("a {expected} resource cannot be decoded: {e}"));
                    continue;
                }
            };
            let name = T::name(&proto).to_string();
            match T::convert(&proto) {
                Ok(value) => {
                    let version = version.to_string();
                    self.entries.insert(name.clone(), Entry { version, value });
                }
                Err(e) => applied.errors.push(e.to_string()),
            }
            applied.names.insert(name);
        }
        for name in removed {
            self.entries.remove(name);
        }
        applied
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry<T::Value>> {
        self.entries.get(name)
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Entry<T::Value>)> {
        self.entries.iter()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Each resource's version, for a reconnect's `initial_resource_versions`.
    pub(crate) fn versions(&self) -> std::collections::HashMap<String, String> {
        self.entries
            .iter()
            .map(|(k, e)| (k.clone(), e.version.clone()))
            .collect()
    }

    /// The highest version held (what `/config_dump` shows per type).
    pub(crate) fn latest_version(&self) -> String {
        self.entries
            .values()
            .map(|e| &e.version)
            .max()
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_url_maps_back_to_its_type_and_unknown_ones_to_none() {
        for ty in [
            XdsType::Cluster,
            XdsType::Endpoints,
            XdsType::Listener,
            XdsType::RouteConfiguration,
            XdsType::Secret,
        ] {
            assert_eq!(XdsType::from_type_url(ty.type_url()), Some(ty));
        }
        assert_eq!(
            XdsType::from_type_url("type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"),
            None
        );
    }
}
