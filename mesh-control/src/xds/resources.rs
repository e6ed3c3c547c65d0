//! The xDS resources of one proxy, as the translator produces them and the server
//! sends them.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;

/// Everything one proxy receives. Each list is sorted by resource name, so the same
/// model and proxy always give the same bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyResources {
    pub listeners: Vec<Listener>,
    pub routes: Vec<RouteConfiguration>,
    pub clusters: Vec<Cluster>,
    pub endpoints: Vec<ClusterLoadAssignment>,
}
