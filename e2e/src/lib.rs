//! End-to-end tests of mesh.
//!
//! Planned here: the local cluster (Linux network namespaces as pods on a bridge, each
//! with the proxy's redirect rules) and the kind suite for GitHub Actions, both driven
//! by the same scenarios. Nothing runs yet: the local cluster needs the data plane.
