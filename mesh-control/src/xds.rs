//! xDS: translating the mesh model into Envoy resources and serving them over ADS.

pub mod node;
pub mod resources;
pub mod server;
pub mod translate;
