//! The xDS client: Delta ADS to the control plane, and the state it builds.
//!
//! [`state`] is pure (responses in, ACK/NACK and snapshots out); [`client`] is the
//! stream, the subscriptions and the reconnects around it (Delta ADS, and [`sotw`]
//! for a control plane that offers only State of the World).

mod client;
mod resource;
mod sotw;
mod state;
#[cfg(test)]
mod tests;

pub use client::XdsClient;
pub use resource::XdsType;
pub use state::XdsState;
