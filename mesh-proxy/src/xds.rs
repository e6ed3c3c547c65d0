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

pub use mesh_api::xds::type_url::{
    CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION,
};
