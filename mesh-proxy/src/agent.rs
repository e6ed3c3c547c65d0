//! `mesh-proxy agent`: Istio's pilot-agent role for a real Envoy. It gets and renews
//! the workload certificate as `mesh-proxy run` does ([`crate::identity`]) and
//! serves it to Envoy over SDS on a Unix socket ([`sds`]), with Istio's resource
//! names ([`secrets`]: `default`, `ROOTCA`), so that Envoy's bootstrap and the
//! translator's TLS config read as Istio's.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::SecretDiscoveryServiceServer;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_stream::wrappers::UnixListenerStream;

use crate::identity::{self, CertificateWatch, IdentityArgs, IdentityConfig};
use crate::node::parse_workload;

mod sds;
mod secrets;
mod streams;

pub use sds::SdsServer;
pub use secrets::{DEFAULT, ROOTCA};

/// The flags of `mesh-proxy agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// The control plane (its TLS port, 15012); also the CA unless --ca-address.
    #[arg(long, env = "MESH_XDS_ADDRESS", value_name = "HOST:PORT")]
    pub xds_address: String,
    /// The workload whose Envoy this agent serves, as NAME.NAMESPACE.
    #[arg(long, env = "MESH_WORKLOAD", value_name = "NAME.NAMESPACE")]
    pub workload: String,
    /// The workload's service account.
    #[arg(long, env = "MESH_SERVICE_ACCOUNT", default_value = "default")]
    pub service_account: String,
    /// Where to serve SDS to Envoy (`meshctl bootstrap envoy --sds-socket`).
    #[arg(
        long,
        env = "MESH_SDS_SOCKET",
        value_name = "PATH",
        default_value = "/var/run/secrets/workload-spiffe-uds/socket"
    )]
    pub sds_socket: PathBuf,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// What `mesh-proxy agent` runs with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AgentConfig {
    pub identity: IdentityConfig,
    pub sds_socket: PathBuf,
}

impl AgentArgs {
    pub fn config(&self) -> Result<AgentConfig, String> {
        let (_, namespace) = parse_workload(&self.workload)?;
        let identity = self
            .identity
            .config(&self.xds_address, &namespace, &self.service_account)?
            .ok_or(
                "the agent exists to get a workload certificate: give --root-cert and --token-file",
            )?;
        Ok(AgentConfig {
            identity,
            sds_socket: self.sds_socket.clone(),
        })
    }
}

/// Runs the agent until SIGINT or SIGTERM.
pub async fn run(config: AgentConfig) -> anyhow::Result<()> {
    let identity = identity::spawn(&config.identity).context("cannot start the identity")?;
    let path = &config.sds_socket;
    let listener = bind(path)?;
    tracing::info!(
        identity = %config.identity.id,
        ca = %config.identity.ca_address,
        sds_socket = %path.display(),
        "serving SDS (default, ROOTCA)"
    );
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    let served = serve_sds(listener, identity.certificates, stop).await;
    // The next agent finds no stale socket.
    let _ = std::fs::remove_file(path);
    served.with_context(|| format!("SDS server on {} failed", path.display()))
}

/// Serves SDS from `certificates` on `listener` until `stop` completes.
pub async fn serve_sds(
    listener: UnixListener,
    certificates: CertificateWatch,
    stop: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(SecretDiscoveryServiceServer::new(SdsServer::new(
            certificates,
        )))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), stop)
        .await
}

/// Binds the socket, replacing one left by an agent that stopped, and lets only this
/// user (Envoy runs as the same uid, 1337) connect: the socket hands out the key.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--sds-socket {shown}: cannot create {}", parent.display()))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                bail!(
                    "--sds-socket {shown}: another agent serves there; stop it or choose another path"
                );
            }
            std::fs::remove_file(path)
                .with_context(|| format!("--sds-socket {shown}: cannot remove the stale socket"))?;
        }
        Ok(_) => bail!(
            "--sds-socket {shown}: exists and is not a socket; remove it or choose another path"
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("--sds-socket {shown}: {e}"),
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("--sds-socket {shown}: cannot bind"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("--sds-socket {shown}: cannot restrict its permissions"))?;
    Ok(listener)
}
