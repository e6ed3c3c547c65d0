//! Injection analyzers (Istio's `injection.Analyzer`): namespaces say whether their
//! pods get sidecars, with one label; pods of injected namespaces have their sidecar.
//! mesh's `mesh.dev/inject` namespace label counts as `istio-injection`.

use serde_json::Value;

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject};
use super::message::Message;
use super::workloads::{
    ISTIO_INJECTION_LABEL, MESH_INJECTION_LABEL, MESH_SIDECAR_INJECT, SIDECAR_INJECT, proxy_image,
};

mod images;

const REVISION_LABEL: &str = "istio.io/rev";
const DATAPLANE_MODE_LABEL: &str = "istio.io/dataplane-mode";
const INJECTOR_CONFIG_MAP: &str = "istio-sidecar-injector";

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let mut injected: Vec<&str> = Vec::new();
    for ns in cx.unique(InputKind::Namespace) {
        if ns.name == cx.root_namespace() {
            continue;
        }
        if namespace(cx, ns, out) {
            injected.push(&ns.name);
        }
    }
    for pod in cx.all(InputKind::Pod) {
        if !injected.contains(&pod.namespace.as_str()) {
            continue;
        }
        let labels = pod.labels();
        let annotations = pod.annotations();
        let inject = [SIDECAR_INJECT, MESH_SIDECAR_INJECT]
            .iter()
            .find_map(|k| labels.get(*k).or_else(|| annotations.get(*k)));
        if inject.is_some_and(|v| v.eq_ignore_ascii_case("false")) {
            continue;
        }
        if pod.spec()["hostNetwork"] == Value::Bool(true) || proxy_image(pod.spec()).is_some() {
            continue;
        }
        out.push(cx.message(
            codes::POD_MISSING_PROXY,
            pod,
            Some("spec.containers".to_string()),
            format!(
                "The pod {} is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
                pod.full_name()
            ),
            "restart the pod (kubectl rollout restart on its workload) so that the injector adds the sidecar",
        ));
    }
    images::analyze(cx, out);
}

/// Reports a namespace's injection labels; returns whether its pods get sidecars.
fn namespace(cx: &Context<'_>, ns: &InputObject, out: &mut Vec<Message>) -> bool {
    let istio = ns.label(ISTIO_INJECTION_LABEL);
    let mesh = ns.label(MESH_INJECTION_LABEL);
    let injection = istio.or(mesh);
    let revision = ns.label(REVISION_LABEL);
    let mut labels: Vec<String> = Vec::new();
    if let Some(v) = istio {
        labels.push(format!("{ISTIO_INJECTION_LABEL}={v}"));
    }
    // The two names of the label agreeing is one label; disagreeing, two.
    if let (Some(i), Some(m)) = (istio, mesh)
        && i != m
    {
        labels.push(format!("{MESH_INJECTION_LABEL}={m}"));
    }
    for key in [REVISION_LABEL, DATAPLANE_MODE_LABEL] {
        if let Some(v) = ns.label(key)
            && (injection.is_none() || injection == Some("enabled"))
        {
            labels.push(format!("{key}={v}"));
        }
    }
    if labels.len() > 1 {
        out.push(cx.message(
            codes::NAMESPACE_MULTIPLE_INJECTION_LABELS,
            ns,
            Some("metadata.labels".to_string()),
            format!(
                "The namespace has more than one type of injection labels [{}], which may lead to undefined behavior. Make sure only one injection label exists.",
                labels.join(" ")
            ),
            "keep one of the labels: istio-injection (or mesh.dev/inject), istio.io/rev, or istio.io/dataplane-mode",
        ));
    }
    if ns.label(DATAPLANE_MODE_LABEL) == Some("ambient") {
        return false;
    }
    if injection.is_none_or(str::is_empty) && revision.is_none() {
        if enabled_by_default(cx) {
            out.push(cx.message(
                codes::NAMESPACE_INJECTION_ENABLED_BY_DEFAULT,
                ns,
                None,
                "is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.",
                "label the namespace istio-injection=disabled if its pods should run without sidecars",
            ));
        } else {
            out.push(cx.message(
                codes::NAMESPACE_NOT_INJECTED,
                ns,
                Some("metadata.name".to_string()),
                format!(
                    "The namespace is not enabled for Istio injection. Run 'kubectl label namespace {0} istio-injection=enabled' to enable it, or 'kubectl label namespace {0} istio-injection=disabled' to explicitly mark it as not needing injection.",
                    ns.name
                ),
                format!("label the namespace: kubectl label namespace {} istio-injection=enabled (or =disabled)", ns.name),
            ));
        }
        return false;
    }
    injection == Some("enabled")
}

/// The injector's `sidecarInjectorWebhook.enableNamespacesByDefault`, from its ConfigMap.
fn enabled_by_default(cx: &Context<'_>) -> bool {
    cx.unique(InputKind::ConfigMap)
        .find(|cm| cm.name == INJECTOR_CONFIG_MAP)
        .and_then(injector_values)
        .and_then(|values| values["sidecarInjectorWebhook"]["enableNamespacesByDefault"].as_bool())
        .unwrap_or(false)
}

/// The injector ConfigMap's `values` (JSON).
fn injector_values(cm: &InputObject) -> Option<Value> {
    serde_json::from_str(cm.value["data"]["values"].as_str()?).ok()
}

#[cfg(test)]
pub(crate) mod tests;
