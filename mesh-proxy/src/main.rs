//! `mesh-proxy`: the sidecar data plane of mesh.
//!
//! The data plane (xDS client, listeners, HTTP and TCP proxying) is being built; this
//! binary currently only reports its version, so that packaging and images can be
//! wired up around it.

use clap::Parser;

/// The mesh sidecar proxy (the Envoy / linkerd2-proxy role).
///
/// Not functional yet: the data plane lands in a later release. Until then, run real
/// Envoy against mesh-control (see docs/).
#[derive(Debug, Parser)]
#[command(name = "mesh-proxy", version, about, long_about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!(
        "mesh-proxy {}: the data plane is not implemented yet; run Envoy as the sidecar for now",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
