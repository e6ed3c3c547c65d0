//! `meshctl version`: meshctl's own version and, with a cluster, the control
//! plane's (its `/version`, through a port-forward) and the data plane's (the image
//! tags of the injected proxies), as `istioctl version`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use mesh_api::debug::{ProxySyncStatus, ServerVersion, path};
use serde::Serialize;

use crate::cluster::{ClusterArgs, api_error, runtime};
use crate::debug_client::ControlPlaneArgs;
use crate::port_forward::control_plane_pod;

/// The container name of an injected proxy (sidecar or native-sidecar init).
const PROXY_CONTAINER: &str = "mesh-proxy";

/// Print the versions of meshctl, the control plane and the proxies.
#[derive(Debug, Args)]
#[command(
    after_help = "Without a cluster (no kubeconfig, or it cannot be reached) it prints meshctl's version\nand says why the rest is missing.\n\nExamples:\n  meshctl version\n  meshctl version --short\n  meshctl version -o json --context kind-mesh"
)]
pub(crate) struct VersionArgs {
    /// Only the version numbers.
    #[arg(long)]
    short: bool,

    /// Output format: text for people, or JSON.
    #[arg(short = 'o', long, value_enum, default_value_t = VersionFormat::Text)]
    output: VersionFormat,

    /// Also the control plane's and the proxies' versions (`--remote=false`: only
    /// meshctl's, without looking for a cluster).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    remote: bool,

    #[command(flatten)]
    control_plane: ControlPlaneArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum VersionFormat {
    Text,
    Json,
}

/// Everything `meshctl version` found.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Versions {
    pub(crate) client_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) control_plane: Option<ControlPlaneVersion>,
    /// Proxy version → how many injected pods run it.
    pub(crate) data_plane: BTreeMap<String, usize>,
    /// Proxies connected to the control plane (its /debug/syncz).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connected_proxies: Option<usize>,
    /// Why the cluster or the control plane could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ControlPlaneVersion {
    pub(crate) version: String,
    /// Where it was read: the pod, or the --control-plane address.
    pub(crate) source: String,
}

/// What the cluster's API says, before the control plane is asked.
#[derive(Debug, Default)]
pub(crate) struct ClusterFacts {
    /// The image tag of the ready mesh-control pod, when it cannot be asked.
    pub(crate) control_plane_image: Option<(String, String)>,
    pub(crate) data_plane: BTreeMap<String, usize>,
    /// Why no control plane pod was found.
    pub(crate) control_plane_missing: Option<String>,
}

pub(crate) fn run(args: &VersionArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let mut versions = Versions {
        client_version: env!("CARGO_PKG_VERSION").to_string(),
        ..Versions::default()
    };
    let remote = args.remote;
    let from_cluster = remote && cluster.configured();
    if from_cluster {
        match runtime()?.block_on(read_cluster(cluster)) {
            Ok(facts) => {
                versions.data_plane = facts.data_plane;
                versions.problems.extend(facts.control_plane_missing);
                if let Some((version, pod)) = facts.control_plane_image {
                    versions.control_plane = Some(ControlPlaneVersion {
                        version,
                        source: format!("image of pod {pod}"),
                    });
                }
            }
            Err(e) => versions
                .problems
                .push(format!("the cluster was not reachable: {e:#}")),
        }
    } else if remote && args.control_plane.control_plane.is_none() {
        versions.problems.push(
            "no cluster: set KUBECONFIG or pass --kubeconfig to see the mesh's versions"
                .to_string(),
        );
    }
    // The control plane's own answer beats its image tag (a `latest` image says little).
    let ask = remote
        && (args.control_plane.control_plane.is_some()
            || (from_cluster && versions.control_plane.is_some()));
    if ask {
        let answer = args.control_plane.client(cluster).and_then(|client| {
            let version = client.get::<ServerVersion>(path::VERSION)?;
            Ok((client, version))
        });
        match answer {
            Ok((client, answer)) => {
                versions.control_plane = Some(ControlPlaneVersion {
                    version: answer.version,
                    source: client.shown().to_string(),
                });
                if let Ok(proxies) = client.get::<Vec<ProxySyncStatus>>(path::SYNCZ) {
                    versions.connected_proxies = Some(proxies.len());
                }
            }
            Err(e) => versions
                .problems
                .push(format!("the control plane did not say its version: {e:#}")),
        }
    }
    match args.output {
        VersionFormat::Json => println!("{}", serde_json::to_string_pretty(&versions)?),
        VersionFormat::Text => print!("{}", render(&versions, args.short)),
    }
    if args.short {
        // Scripts read stdout; people still learn why a version is missing.
        for problem in &versions.problems {
            eprintln!("note: {problem}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn read_cluster(cluster: &ClusterArgs) -> anyhow::Result<ClusterFacts> {
    let connected = cluster.connect().await?;
    read_facts(&connected.client, &connected.mesh_namespace).await
}

/// The control plane pod's image tag and the proxies' image tags.
pub(crate) async fn read_facts(
    client: &Client,
    mesh_namespace: &str,
) -> anyhow::Result<ClusterFacts> {
    let pods: Api<Pod> = Api::all(client.clone());
    let all = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| api_error("list pods", e))?;
    let (control_plane_image, control_plane_missing) =
        match control_plane_pod(client, mesh_namespace).await {
            Ok(name) => {
                let image = all
                    .items
                    .iter()
                    .find(|p| p.metadata.name.as_deref() == Some(name.as_str()))
                    .and_then(|p| container_tag(p, "mesh-control"))
                    .map(|tag| (tag, format!("{name}.{mesh_namespace}")));
                (image, None)
            }
            Err(e) => (None, Some(format!("{e:#}"))),
        };
    Ok(ClusterFacts {
        control_plane_image,
        control_plane_missing,
        data_plane: data_plane_versions(&all.items),
    })
}

/// Proxy version → pods, from the tag of each pod's `mesh-proxy` container.
pub(crate) fn data_plane_versions(pods: &[Pod]) -> BTreeMap<String, usize> {
    let mut versions = BTreeMap::new();
    for pod in pods {
        if let Some(tag) = container_tag(pod, PROXY_CONTAINER) {
            *versions.entry(tag).or_insert(0) += 1;
        }
    }
    versions
}

/// The image tag of the pod's container (or init container) `name`; a digest or no
/// tag reads as `unknown`.
fn container_tag(pod: &Pod, name: &str) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let container = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)?;
    let image = container.image.as_deref().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or(image);
    Some(match last.split_once(':') {
        Some((_, tag)) if !last.contains('@') => tag.to_string(),
        _ => "unknown".to_string(),
    })
}

pub(crate) fn render(versions: &Versions, short: bool) -> String {
    let mut out = format!("client version: {}\n", versions.client_version);
    if let Some(cp) = &versions.control_plane {
        out.push_str(&format!("control plane version: {}", cp.version));
        if !short {
            out.push_str(&format!(" ({})", cp.source));
        }
        out.push('\n');
    }
    if !versions.data_plane.is_empty() || versions.control_plane.is_some() {
        let proxies: Vec<String> = versions
            .data_plane
            .iter()
            .map(|(version, n)| {
                if short {
                    version.clone()
                } else {
                    format!("{version} ({n} prox{})", if *n == 1 { "y" } else { "ies" })
                }
            })
            .collect();
        let text = if proxies.is_empty() {
            "none (no injected pods)".to_string()
        } else {
            proxies.join(", ")
        };
        out.push_str(&format!("data plane version: {text}\n"));
    }
    if let (Some(n), false) = (versions.connected_proxies, short) {
        out.push_str(&format!("proxies connected to the control plane: {n}\n"));
    }
    if !short {
        for problem in &versions.problems {
            out.push_str(&format!("note: {problem}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
