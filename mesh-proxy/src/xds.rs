//! The xDS client: Delta ADS to the control plane, and the state it builds.
//!
//! [`state`] is pure (responses in, ACK/NACK and snapshots out); [`client`] is the
//! stream, the subscriptions and the reconnects around it (Delta ADS, and [`sotw`]
//! for a control plane that offers only State of the World).

mod client;
mod sotw;
mod state;
#[cfg(test)]
mod tests;

pub use client::XdsClient;
pub use state::XdsState;

pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
pub const ROUTE_CONFIGURATION: &str =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
pub const CLUSTER_LOAD_ASSIGNMENT: &str =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
