//! The mesh control plane (the istiod role): config sources, the mesh model, the
//! xDS server and the CA.

pub mod args;
pub mod ca;
pub mod config;
pub mod debug;
pub mod file_source;
pub mod webhook;
pub mod xds;
