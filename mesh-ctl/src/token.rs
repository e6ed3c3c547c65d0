//! `meshctl token create`: a workload token from the control plane's debug endpoint
//! (`POST /debug/tokens`), printed alone on stdout for `mesh-proxy --token-file`.
//! The control plane grants it to a local caller, or to one with its admin token.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use mesh_api::debug::{TokenRequest, TokenResponse, path};

use crate::cluster::ClusterArgs;
use crate::debug_client::ControlPlaneArgs;

/// Workload tokens: what a proxy shows the control plane to get its first
/// certificate in universal mode.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for one workload and print it (alone, on stdout).
    Create(CreateArgs),
}

/// Create a workload token: it proves the identity
/// spiffe://<trust domain>/ns/<NAMESPACE>/sa/<SA> for the workload NAME.NAMESPACE,
/// until it expires. Anyone holding it is that workload: keep it as a secret.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl token create --workload web-1.shop --service-account web > web-1.token\n  mesh-proxy run ... --xds-address 10.0.0.2:15012 --token-file web-1.token --root-cert root-cert.pem\n  meshctl token create --workload db-0.shop --service-account db --ttl 720h \\\n      --control-plane 10.0.0.2:15014 --admin-token-file admin.token"
)]
struct CreateArgs {
    /// The workload: its pod (or WorkloadEntry) name and namespace, NAME.NAMESPACE.
    #[arg(long, value_name = "NAME.NAMESPACE")]
    workload: String,

    /// The workload's service account (the WorkloadEntry's serviceAccount).
    #[arg(long, value_name = "SA")]
    service_account: String,

    /// How long the token is good for (e.g. 1h, 720h); default 24h, at most 8760h.
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,

    /// File with the control plane's admin token (mesh-control --admin-token-file),
    /// needed when the control plane is not on this host.
    #[arg(long, env = "MESH_ADMIN_TOKEN_FILE", value_name = "FILE")]
    admin_token_file: Option<PathBuf>,

    #[command(flatten)]
    control_plane: ControlPlaneArgs,
}

pub(crate) fn run(args: &TokenArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        TokenCommand::Create(args) => {
            let token = create(args, cluster)?;
            eprintln!(
                "token for {} (workload {}), expires {}",
                token.identity, token.workload, token.expires_at
            );
            println!("{}", token.token);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn create(args: &CreateArgs, cluster: &ClusterArgs) -> anyhow::Result<TokenResponse> {
    let request = request(args)?;
    let mut client = args.control_plane.client(cluster)?;
    if let Some(file) = &args.admin_token_file {
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --admin-token-file {}", file.display()))?;
        client = client.with_bearer(token.trim().to_string());
    }
    client.post(path::TOKENS, &request)
}

/// The request, checked here first so that a typo is named before any network.
fn request(args: &CreateArgs) -> anyhow::Result<TokenRequest> {
    match args.workload.rsplit_once('.') {
        Some((name, namespace)) if !name.is_empty() && !namespace.is_empty() => {}
        _ => bail!(
            "--workload {:?} is not NAME.NAMESPACE; write e.g. --workload web-1.shop (the pod \
             or WorkloadEntry name, a dot, its namespace)",
            args.workload
        ),
    }
    if args.service_account.trim().is_empty() {
        bail!("--service-account is empty; name the workload's service account");
    }
    if let Some(ttl) = &args.ttl {
        mesh_api::duration::parse_std(ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    }
    Ok(TokenRequest {
        workload: args.workload.clone(),
        service_account: args.service_account.clone(),
        ttl: args.ttl.clone(),
    })
}

#[cfg(test)]
mod tests;
