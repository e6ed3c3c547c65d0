//! Cluster access as kubectl finds it: `--kubeconfig`, else `KUBECONFIG`, else
//! `~/.kube/config`, else the pod's service account; `--context` picks a context.
//! The commands that talk to a cluster run kube's client on a current-thread tokio
//! runtime made for them, as the debug client does.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// How long to wait for the API server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for an answer (lists of a big cluster take a while).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Which cluster, which user, which namespaces: kubectl's flags, on every command.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct ClusterArgs {
    /// The kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the
    /// in-cluster service account).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current-context).
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) context: Option<String>,

    /// The namespace to work in (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub(crate) namespace: Option<String>,

    /// The namespace mesh-control is installed in.
    #[arg(
        long,
        global = true,
        env = "MESH_NAMESPACE",
        value_name = "NS",
        default_value = "mesh-system"
    )]
    pub(crate) mesh_namespace: String,
}

/// A connected cluster: the client and the namespaces the flags chose.
#[derive(Clone)]
pub(crate) struct Cluster {
    pub(crate) client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub(crate) namespace: String,
    pub(crate) mesh_namespace: String,
}

impl ClusterArgs {
    /// Whether credentials can be found at all, without reading them: the flag,
    /// `KUBECONFIG`, `~/.kube/config` or a pod's service account. Commands that work
    /// without a cluster use it to decide whether to try one.
    pub(crate) fn configured(&self) -> bool {
        self.kubeconfig.is_some()
            || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty())
            || home_kubeconfig().is_some_and(|p| p.is_file())
            || std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
    }

    /// The client configuration the flags ask for. Must run inside a tokio runtime.
    pub(crate) async fn config(&self) -> anyhow::Result<Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                let file = Kubeconfig::read_from(path).with_context(|| {
                    format!(
                        "cannot read the kubeconfig {}; check the path given to --kubeconfig",
                        path.display()
                    )
                })?;
                Config::from_custom_kubeconfig(file, &options)
                    .await
                    .with_context(|| bad_context(self, &path.display().to_string()))?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .with_context(|| bad_context(self, "$KUBECONFIG or ~/.kube/config"))?,
            // Nothing to read: say so without kube's chain of every place it looked.
            None if !self.configured() => {
                anyhow::bail!(
                    "no cluster: set KUBECONFIG or pass --kubeconfig FILE (meshctl finds \
                     credentials as kubectl does)"
                )
            }
            None => Config::infer().await.map_err(|e| {
                anyhow!(e).context(
                    "no cluster: set KUBECONFIG or pass --kubeconfig FILE (meshctl finds \
                     credentials as kubectl does)",
                )
            })?,
        };
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(READ_TIMEOUT);
        Ok(config)
    }

    /// A client of the cluster. Must run inside a tokio runtime, which then drives it.
    pub(crate) async fn connect(&self) -> anyhow::Result<Cluster> {
        let config = self.config().await?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).with_context(|| {
            format!("cannot make a client for the cluster at {server}; check its kubeconfig entry")
        })?;
        Ok(Cluster {
            client,
            namespace,
            mesh_namespace: self.mesh_namespace.clone(),
        })
    }
}

/// What to check when a named context or file does not work.
fn bad_context(args: &ClusterArgs, source: &str) -> String {
    match &args.context {
        Some(context) => format!(
            "cannot use context {context:?} of {source}; `kubectl config get-contexts` lists them"
        ),
        None => format!("cannot use {source}; does it have a current-context?"),
    }
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube").join("config"))
}

/// A runtime for one command's cluster calls.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start meshctl's Kubernetes client")
}

/// Says what to check when the API server does not answer or refuses.
pub(crate) fn api_error(what: &str, e: kube::Error) -> anyhow::Error {
    let hint = match &e {
        kube::Error::Api(status) if status.code == 403 => {
            "your user may not do that; ask for the RBAC (`kubectl auth can-i …` checks)"
        }
        kube::Error::Api(status) if status.code == 401 => {
            "the cluster did not accept your credentials; log in again or check the kubeconfig"
        }
        kube::Error::Api(_) => "the API server refused",
        _ => {
            "the API server did not answer; is the cluster up and the kubeconfig's server \
             reachable (`kubectl cluster-info`)?"
        }
    };
    // The API server's own message says it all; kube's Display adds the whole Status.
    let cause = match &e {
        kube::Error::Api(status) => anyhow!("{} (HTTP {})", status.message, status.code),
        _ => anyhow!(e),
    };
    cause.context(format!("cannot {what}: {hint}"))
}

#[cfg(test)]
mod tests;
