//! Pods and Deployments as Istio's analyzers see them: their containers, and whether
//! they are in the mesh (have, or will be given, a sidecar).

use serde_json::Value;

use super::Context;
use super::input::{InputKind, InputObject, items, string_map};
use super::labels::Labels;

/// The sidecar's container names: Istio's, and mesh's injector's
/// (`crate::inject::PROXY_CONTAINER`, a native sidecar among the init containers on
/// Kubernetes 1.29 and later).
pub(crate) const PROXY_CONTAINERS: [&str; 2] = ["istio-proxy", crate::inject::PROXY_CONTAINER];

/// Whether a container (as JSON) is a sidecar proxy.
pub(crate) fn is_proxy(container: &Value) -> bool {
    container["name"]
        .as_str()
        .is_some_and(|name| PROXY_CONTAINERS.contains(&name))
}
/// Istio's namespace injection label (`istio-injection=enabled`).
pub(crate) const ISTIO_INJECTION_LABEL: &str = "istio-injection";
/// mesh's namespace injection label, honoured the same way.
pub(crate) const MESH_INJECTION_LABEL: &str = "mesh.dev/inject";
/// The pod label (or, deprecated, annotation) that turns injection on or off.
pub(crate) const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";
/// mesh's pod label with the same meaning.
pub(crate) const MESH_SIDECAR_INJECT: &str = "mesh.dev/inject";

/// The pod template of a Deployment, or the Pod itself, as (metadata, spec).
pub(crate) fn pod_template(entry: &InputObject) -> (&Value, &Value) {
    match entry.kind {
        InputKind::Deployment => (
            &entry.spec()["template"]["metadata"],
            &entry.spec()["template"]["spec"],
        ),
        _ => (&entry.value["metadata"], entry.spec()),
    }
}

/// Containers, then init containers, of a pod spec.
pub(crate) fn containers(pod_spec: &Value) -> impl Iterator<Item = &Value> {
    items(&pod_spec["containers"])
        .iter()
        .chain(items(&pod_spec["initContainers"]))
}

/// The sidecar's image, when the pod has a sidecar container with an image.
pub(crate) fn proxy_image(pod_spec: &Value) -> Option<&str> {
    containers(pod_spec)
        .find(|c| is_proxy(c))
        .and_then(|c| c["image"].as_str())
        .filter(|i| !i.is_empty())
}

/// Whether a namespace of the input turns injection on (`Some(true)`), off
/// (`Some(false)` for any other value, or no label), or is not in the input (`None`).
pub(crate) fn namespace_injection(cx: &Context<'_>, namespace: &str) -> Option<bool> {
    let ns = cx.find(InputKind::Namespace, "", namespace)?;
    Some(
        ns.label(ISTIO_INJECTION_LABEL) == Some("enabled")
            || ns.label(MESH_INJECTION_LABEL) == Some("enabled"),
    )
}

/// Istio's test of membership: a sidecar container, else the pod's injection label
/// (or annotation), else its namespace's label.
pub(crate) fn in_mesh(cx: &Context<'_>, entry: &InputObject) -> bool {
    let (metadata, spec) = pod_template(entry);
    if proxy_image(spec).is_some() {
        return true;
    }
    let labels = string_map(&metadata["labels"]);
    let annotations = string_map(&metadata["annotations"]);
    for source in [&labels, &annotations] {
        for key in [SIDECAR_INJECT, MESH_SIDECAR_INJECT] {
            if let Some(v) = source.get(key) {
                return v == "true";
            }
        }
    }
    namespace_injection(cx, &entry.namespace).unwrap_or(false)
}

/// The labels of a Pod, or of a Deployment's pods.
pub(crate) fn pod_labels(entry: &InputObject) -> Labels {
    string_map(&pod_template(entry).0["labels"])
}

/// Whether the pod runs in ambient mode (no sidecar: ztunnel redirects its traffic).
pub(crate) fn pod_in_ambient(entry: &InputObject) -> bool {
    entry.annotation("ambient.istio.io/redirection") == Some("enabled")
}
