//! The mesh control plane (the istiod role): config sources, the mesh model, and (in
//! later parts) the xDS server and the CA.

pub mod args;
pub mod config;
pub mod debug;
pub mod file_source;
pub mod xds;
