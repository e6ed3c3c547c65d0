//! The sample app in an injected namespace, as a user deploys it: every pod must have
//! been given its sidecar by the webhook and requests must go through the sidecars.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use super::kind_cluster::KindCluster;
use crate::command::{output, run};
use crate::workspace::Workspace;

/// Where the sample app runs before the scenarios (`e2e/kind/sample-app.yaml`).
pub(super) const SAMPLE_NAMESPACE: &str = "mesh-sample";
/// Placeholder in `e2e/kind/sample-app.yaml`.
const SAMPLE_IMAGE_PLACEHOLDER: &str = "${SAMPLE_APP_IMAGE}";

/// `e2e/kind/sample-app.yaml` with the loaded image.
pub(super) fn sample_manifest(template: &str, image: &str) -> String {
    template.replace(SAMPLE_IMAGE_PLACEHOLDER, image)
}

/// The pods of a `kubectl get pods -o json` list that have no `mesh-proxy`
/// container (as a container or a native sidecar).
pub(super) fn pods_without_sidecar(list: &Value) -> Vec<String> {
    list.get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|pod| {
            let containers = ["initContainers", "containers"]
                .iter()
                .filter_map(|k| pod.get("spec")?.get(*k)?.as_array())
                .flatten();
            !containers
                .filter_map(|c| c.get("name")?.as_str())
                .any(|n| n == "mesh-proxy")
        })
        .filter_map(|pod| {
            pod.get("metadata")?
                .get("name")?
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// Deploys the sample app, checks that the webhook injected every pod and that
/// requests go through, then removes it (the scenarios count the proxies connected).
pub(super) fn sample_app(ws: &Workspace, cluster: &KindCluster, image: &str) -> Result<()> {
    let path = ws.root().join("e2e/kind/sample-app.yaml");
    let template = std::fs::read_to_string(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let manifest = ws.scratch_dir().join("kind/sample-app.yaml");
    std::fs::write(&manifest, sample_manifest(&template, image))?;
    let manifest = manifest.to_string_lossy().into_owned();
    run(&mut cluster.kubectl(&["apply", "-f", &manifest]))?;
    run(&mut cluster.kubectl(&[
        "wait", "--for=condition=Available", "deployment", "--all", "-n", SAMPLE_NAMESPACE, "--timeout=300s",
    ]))
    .context("the sample app did not become available: see `kubectl describe pods -n mesh-sample` in the logs")?;
    let pods =
        output(&mut cluster.kubectl(&["get", "pods", "-n", SAMPLE_NAMESPACE, "-o", "json"]))?;
    let pods: Value = serde_json::from_slice(&pods.stdout).context("kubectl get pods -o json")?;
    let bare = pods_without_sidecar(&pods);
    if !bare.is_empty() {
        bail!(
            "pods in the injected namespace {SAMPLE_NAMESPACE} have no sidecar: {}; check the \
             injection webhook (mesh-sidecar-injector) and mesh-control's log",
            bare.join(", ")
        );
    }
    let request = output(&mut cluster.kubectl(&[
        "exec",
        "-n",
        SAMPLE_NAMESPACE,
        "deploy/client",
        "-c",
        "app",
        "--",
        "mesh-sample-app",
        "request",
        "http://web:9080/",
        "-n",
        "20",
        "--json",
    ]))?;
    let summary: Value =
        serde_json::from_slice(&request.stdout).context("the client's --json summary")?;
    let ok = summary["statuses"]["200"].as_u64().unwrap_or(0);
    println!(
        "    client → web through the sidecars: {ok}/20 answered 200, by {}",
        summary["workloads"]
    );
    if ok != 20 {
        bail!("requests from the sample client to web failed: {summary}");
    }
    run(&mut cluster.kubectl(&[
        "delete",
        "namespace",
        SAMPLE_NAMESPACE,
        "--wait=true",
        "--timeout=180s",
    ]))
}
