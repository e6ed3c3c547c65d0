//! `/debug/config_dump?proxy=`: the listeners, routes, clusters and endpoints last
//! sent to one proxy, each as a summary of the fields a person debugging routing
//! looks at first, plus the whole Envoy message in its Rust Debug form (`proto`).
//! The control plane decodes the protobufs it sent; these are plain data, so the CLI
//! reads them without Envoy's protos.

use serde::{Deserialize, Serialize};

mod cluster;
mod listener;
mod route;

pub use cluster::{
    CircuitBreakerThresholdsView, ClusterView, EndpointsView, LbEndpointView, OutlierDetectionView,
};
pub use listener::{FilterChainMatchView, FilterChainView, ListenerView, NetworkFilterView};
pub use route::{
    ActionView, ClusterSpecifierView, DirectResponseActionView, PathMatchView, RedirectActionView,
    RetryPolicyView, RouteActionView, RouteConfigurationView, RouteMatchView, RouteView,
    VirtualHostView, WeightedClusterView,
};

/// What was last sent to one proxy (SotW: the last response of each type; Delta:
/// what the proxy holds), each list sorted by resource name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyConfigDump {
    /// The node id.
    pub proxy: String,
    /// `<pod>.<namespace>`.
    pub name: String,
    /// The stream shown (the newest, if the proxy is reconnecting).
    pub connection: String,
    pub config_version: u64,
    pub listeners: Vec<DumpedResource<ListenerView>>,
    pub routes: Vec<DumpedResource<RouteConfigurationView>>,
    pub clusters: Vec<DumpedResource<ClusterView>>,
    pub endpoints: Vec<DumpedResource<EndpointsView>>,
}

/// One resource of a dump: its view, or why the control plane could not decode
/// what it sent (which would be a bug of the control plane, shown rather than hidden).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// Untagged, so that the wire has the view itself. `Undecodable` is tried first: its
// `decode_error` is a field no view has.
#[serde(untagged)]
pub enum DumpedResource<V> {
    Undecodable(UndecodableResource),
    Decoded(V),
}

/// A resource the control plane could not decode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndecodableResource {
    pub name: String,
    pub version: String,
    pub decode_error: String,
}

impl<V> DumpedResource<V> {
    /// The view, if the resource could be decoded.
    pub fn decoded(&self) -> Option<&V> {
        match self {
            DumpedResource::Decoded(view) => Some(view),
            DumpedResource::Undecodable(_) => None,
        }
    }
}
