//! The configuration API of mesh.
//!
//! - [`networking`] and [`security`]: the CRD types, with Istio's schemas, served in
//!   our groups (`networking.mesh.dev/v1alpha1`, `security.mesh.dev/v1alpha1`) and
//!   accepted under Istio's own groups and versions.
//! - [`manifest`]: multi-document YAML to typed objects, with errors that name the
//!   file, document, object and field.
//! - [`model`]: the mesh model (services, endpoints, policies) and the pure index that
//!   builds it from a set of objects.
//! - [`xds`]: the xDS resource type URLs the control plane and the proxy share.
//! - [`debug`]: the answers of the control plane's debug endpoint, which the CLI reads.
//! - [`identity`]: workload identities (SPIFFE IDs in Istio's form).
//! - [`certificate_service`]: Istio's certificate API messages (CSR in, chain out).
//! - [`inject`]: sidecar injection (whether a pod gets a sidecar, and the pod it becomes).
//!
//! No sockets and no runtime live here: this crate is shared by the control plane,
//! the CLI and the proxy.

pub mod analysis;
pub mod certificate_service;
pub mod crds;
pub mod debug;
pub mod duration;
pub mod identity;
pub mod inject;
pub mod manifest;
pub mod model;
pub mod networking;
pub mod object;
pub mod security;
pub mod selector;
pub mod string_match;
/// Test helpers for this crate and those built on it. Always compiled (it is small
/// and has no dependencies): a feature for it would be on in `cargo test` and off in
/// `cargo build`, and the two would not share their builds.
#[doc(hidden)]
pub mod test_support;
pub mod xds;
