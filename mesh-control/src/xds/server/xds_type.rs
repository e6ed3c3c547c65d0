//! The four xDS types the ADS server serves, and a small map keyed by them.

use std::ops::{Index, IndexMut};

use mesh_api::xds::type_url;

/// An xDS resource type, by its discovery service's short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum XdsType {
    /// CDS: `Cluster`.
    Cluster,
    /// EDS: `ClusterLoadAssignment`.
    Endpoint,
    /// LDS: `Listener`.
    Listener,
    /// RDS: `RouteConfiguration`.
    Route,
}

/// One value per xDS type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PerType<T>([T; 4]);

impl XdsType {
    /// The order of a push: a cluster before its endpoints and a listener before its
    /// routes, so that Envoy can warm each new cluster and listener (Envoy's xDS
    /// ordering rules: CDS, EDS, LDS, RDS).
    pub const PUSH_ORDER: [XdsType; 4] = [
        XdsType::Cluster,
        XdsType::Endpoint,
        XdsType::Listener,
        XdsType::Route,
    ];

    pub fn type_url(self) -> &'static str {
        match self {
            XdsType::Cluster => type_url::CLUSTER,
            XdsType::Endpoint => type_url::CLUSTER_LOAD_ASSIGNMENT,
            XdsType::Listener => type_url::LISTENER,
            XdsType::Route => type_url::ROUTE_CONFIGURATION,
        }
    }

    pub fn from_type_url(url: &str) -> Option<XdsType> {
        XdsType::PUSH_ORDER
            .into_iter()
            .find(|t| t.type_url() == url)
    }

    /// `CDS`, `EDS`, `LDS`, `RDS`: the names `istioctl proxy-status` users know.
    pub fn short_name(self) -> &'static str {
        match self {
            XdsType::Cluster => "CDS",
            XdsType::Endpoint => "EDS",
            XdsType::Listener => "LDS",
            XdsType::Route => "RDS",
        }
    }

    /// LDS and CDS treat a request without resource names as "everything" (the
    /// legacy wildcard); RDS and EDS are only ever asked for by name.
    pub fn wildcard_when_unnamed(self) -> bool {
        matches!(self, XdsType::Cluster | XdsType::Listener)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl<T> PerType<T> {
    pub fn from_fn(mut f: impl FnMut(XdsType) -> T) -> PerType<T> {
        PerType(XdsType::PUSH_ORDER.map(&mut f))
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> PerType<U> {
        PerType(self.0.map(f))
    }

    /// Values in push order.
    pub fn iter(&self) -> impl Iterator<Item = (XdsType, &T)> {
        XdsType::PUSH_ORDER.into_iter().zip(self.0.iter())
    }
}

impl<T> Index<XdsType> for PerType<T> {
    type Output = T;
    fn index(&self, ty: XdsType) -> &T {
        &self.0[ty.index()]
    }
}

impl<T> IndexMut<XdsType> for PerType<T> {
    fn index_mut(&mut self, ty: XdsType) -> &mut T {
        &mut self.0[ty.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_round_trip_in_push_order() {
        for ty in XdsType::PUSH_ORDER {
            assert_eq!(XdsType::from_type_url(ty.type_url()), Some(ty));
        }
        let names: Vec<_> = XdsType::PUSH_ORDER.map(XdsType::short_name).to_vec();
        assert_eq!(names, ["CDS", "EDS", "LDS", "RDS"]);
        assert_eq!(XdsType::from_type_url(type_url::SECRET), None);
    }

    #[test]
    fn shared_type_urls_are_the_protos_own() {
        use envoy_types::pb::envoy::config::cluster::v3::Cluster;
        use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
        use envoy_types::pb::envoy::config::listener::v3::Listener;
        use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
        use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
        use prost::Name;
        assert_eq!(type_url::CLUSTER, Cluster::type_url());
        assert_eq!(
            type_url::CLUSTER_LOAD_ASSIGNMENT,
            ClusterLoadAssignment::type_url()
        );
        assert_eq!(type_url::LISTENER, Listener::type_url());
        assert_eq!(
            type_url::ROUTE_CONFIGURATION,
            RouteConfiguration::type_url()
        );
        assert_eq!(type_url::SECRET, Secret::type_url());
    }
}
