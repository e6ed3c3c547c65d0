//! The mesh control plane (the istiod role): config sources (files, the Kubernetes
//! API), the mesh model, the xDS server, the CA and the admission webhooks.

pub mod args;
pub mod ca;
pub mod config;
pub mod debug;
pub mod file_source;
pub mod kube_client;
pub mod kube_source;
pub mod webhook;
pub mod xds;
