//! A Kubernetes client found as kubectl finds its cluster: `--kubeconfig`, else
//! `$KUBECONFIG`, else `~/.kube/config`, else the pod's service account (in-cluster).

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// Where the client's credentials come from.
#[derive(Debug, Clone, Default)]
pub struct KubeClientOptions {
    /// A kubeconfig file to use instead of kubectl's search.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig other than its current one.
    pub context: Option<String>,
}

/// Builds the client; errors say where credentials were looked for.
pub async fn connect(options: &KubeClientOptions) -> anyhow::Result<Client> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                anyhow::anyhow!(
                    "cannot read --kubeconfig {}: {e}; pass a kubeconfig file that kubectl accepts",
                    path.display()
                )
            })?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "--kubeconfig {}: {e}; check its contexts and users",
                        path.display()
                    )
                })?
        }
        None if options.context.is_some() => {
            Config::from_kubeconfig(&kube_options).await.map_err(|e| {
                anyhow::anyhow!(
                    "--kube-context: {e}; list contexts with `kubectl config get-contexts`"
                )
            })?
        }
        None => Config::infer().await.map_err(|e| {
            anyhow::anyhow!(
                "no Kubernetes credentials found ({e}): pass --kubeconfig, set KUBECONFIG, or run \
                 in a pod with a service account"
            )
        })?,
    };
    tracing::info!(cluster = %config.cluster_url, "Kubernetes API");
    Client::try_from(config).map_err(|e| anyhow::anyhow!("cannot build a Kubernetes client: {e}"))
}
