//! End-to-end tests of mesh.
//!
//! The conformance harness (`tests/envoy_conformance.rs`): the real `mesh-control`
//! binary on a temporary config directory, real Envoy processes bootstrapped by
//! `meshctl bootstrap envoy`, and in-process echo servers that say which workload
//! answered. Every process is killed when its guard drops, also when a test panics.
//!
//! The local cluster ([`cluster::LocalCluster`]: network namespaces as pods, with the
//! proxy's redirect rules) implements [`cluster::Cluster`], which the kind suite will
//! implement too, so scenarios are written once.

pub mod cluster;
pub mod control_plane;
pub mod demo;
pub mod echo;
pub mod envoy;
pub mod fixtures;
pub mod http;
pub mod mesh;
pub mod mesh_proxy;
pub mod netns;
pub mod poll;
pub mod prerequisites;
pub mod scenarios;
pub mod tcp_echo;
pub mod tolerance;
pub mod tools;

pub use control_plane::ControlPlane;
pub use echo::EchoServer;
pub use envoy::EnvoyProcess;
pub use http::{HttpClient, Reply};
pub use mesh::{Backend, Mesh};
pub use mesh_proxy::MeshProxyProcess;
pub use poll::eventually;
pub use tcp_echo::TcpEchoServer;
pub use tolerance::assert_binomial;
