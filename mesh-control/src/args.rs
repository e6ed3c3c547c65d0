//! Command-line flags of `mesh-control`, each with an environment-variable fallback.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// The mesh control plane: reads mesh config and serves it to proxies.
///
/// Universal mode (no Kubernetes): point --config-dir at a directory of YAML manifests
/// (v1 Services, WorkloadEntries and the mesh CRDs, in our groups or Istio's). Changes
/// to the directory are picked up while running; a bad document is reported with its
/// file, document, object and field, and the last good config stays in force.
#[derive(Debug, Clone, Parser)]
#[command(name = "mesh-control", version, about, long_about)]
pub struct Args {
    /// Directory of YAML manifests to read (recursively) and watch.
    #[arg(long, env = "MESH_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: PathBuf,

    /// Namespace whose selector-less policies apply to the whole mesh (Istio's root namespace).
    #[arg(long, env = "MESH_ROOT_NAMESPACE", default_value = mesh_api::model::DEFAULT_ROOT_NAMESPACE)]
    pub root_namespace: String,

    /// Quiet time after a change in the config directory before it is re-read (e.g. 100ms, 1s).
    #[arg(long, env = "MESH_CONFIG_DEBOUNCE", default_value = "100ms", value_parser = parse_duration)]
    pub config_debounce: Duration,

    /// Address of the xDS server (ADS, State of the World and Delta) that proxies connect to.
    #[arg(
        long,
        env = "MESH_XDS_ADDRESS",
        default_value = "0.0.0.0:15010",
        value_name = "HOST:PORT"
    )]
    pub xds_address: SocketAddr,

    /// Address of the debug endpoint (/debug/syncz, /debug/config_dump, /debug/config,
    /// /healthz/ready, /version). Keep it on localhost unless it is firewalled: it shows
    /// every proxy's config.
    #[arg(
        long,
        env = "MESH_DEBUG_ADDRESS",
        default_value = "127.0.0.1:15014",
        value_name = "HOST:PORT"
    )]
    pub debug_address: SocketAddr,

    /// Quiet time after a config change before it is pushed to proxies (e.g. 100ms, 1s);
    /// changes within it are pushed together, and none waits more than ten times it.
    #[arg(long, env = "MESH_PUSH_DEBOUNCE", default_value = "100ms", value_parser = parse_duration)]
    pub push_debounce: Duration,

    /// Log filter, in tracing's EnvFilter syntax (e.g. `info`, `mesh_control=debug`).
    #[arg(long, env = "MESH_LOG", default_value = "info")]
    pub log: String,
}

/// Parses `250ms`, `1s`, `2m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<mesh_api::duration::Duration>()
        .map(|d| d.as_std())
        .map_err(|e| format!("{e}; write a duration such as 100ms or 1s"))
}
