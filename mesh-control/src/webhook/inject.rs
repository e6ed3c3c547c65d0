//! The sidecar injector's admission logic, pure: an `AdmissionRequest` for a Pod in,
//! an `AdmissionResponse` out, with a JSONPatch when the pod gets a sidecar. The
//! HTTPS server on 15017 decodes the `AdmissionReview`, looks up the namespace's
//! labels and the apiserver's version, calls [`review`] and sends the answer back.
//! The decision and the mutation are `mesh_api::inject`'s, shared with `meshctl
//! inject`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::core::Resource;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use mesh_api::inject::{
    Decision, InjectionConfig, KubernetesVersion, NamespaceInjection, decide, inject, json_patch,
    pod_from_json, workload_name,
};
use serde::Serialize;

/// Answers one admission request for the `/inject` webhook.
///
/// Anything but the creation of a Pod is allowed unchanged, as is a pod the rules
/// skip (`mesh_api::inject::decide`). A pod whose annotations cannot be honoured
/// (a bad port list, say) is denied with the annotation named, as Istio's injector
/// does: injecting it wrongly would leave it without a working network.
pub fn review<K>(
    request: &AdmissionRequest<K>,
    namespace_labels: &BTreeMap<String, String>,
    config: &InjectionConfig,
    kubernetes: Option<KubernetesVersion>,
) -> AdmissionResponse
where
    K: Resource + Serialize,
{
    let response = AdmissionResponse::from(request);
    let is_pod = request.kind.group.is_empty() && request.kind.kind == "Pod";
    if !is_pod || request.operation != Operation::Create || request.sub_resource.is_some() {
        return response;
    }
    let Some(object) = &request.object else {
        return response;
    };
    let pod: Pod = match serde_json::to_value(object) {
        Ok(value) => match pod_from_json(value) {
            Ok(pod) => pod,
            Err(e) => return response.deny(format!("the object is not a valid Pod: {e}")),
        },
        Err(e) => return response.deny(format!("cannot read the object: {e}")),
    };
    // A pod being created may not carry its namespace yet; the request does.
    let namespace = request
        .namespace
        .clone()
        .or_else(|| pod.metadata.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let namespace_injection = NamespaceInjection::from_labels(namespace_labels);
    if let Decision::Skip(reason) = decide(&pod, &namespace, namespace_injection, config) {
        tracing::debug!(pod = %pod_name(&pod), %namespace, ?reason, "not injected");
        return response;
    }
    let injected = match inject(&pod, &workload_name(&pod), config, kubernetes) {
        Ok(p) => p,
        Err(e) => {
            let message = format!(
                "sidecar injection of pod {} in {namespace}: {e}",
                pod_name(&pod)
            );
            return response.deny(message);
        }
    };
    // Both sides through the same typed Pod, so that fields this build does not know
    // are left alone by the patch rather than removed.
    let patch = match (serde_json::to_value(&pod), serde_json::to_value(&injected)) {
        (Ok(before), Ok(after)) => serde_json::from_value(json_patch(&before, &after)),
        (Err(e), _) | (_, Err(e)) => return response.deny(format!("cannot encode the pod: {e}")),
    };
    let patch: json_patch::Patch = match patch {
        Ok(p) => p,
        Err(e) => return response.deny(format!("cannot encode the patch: {e}")),
    };
    match response.clone().with_patch(patch) {
        Ok(patched) => patched,
        Err(e) => response.deny(format!("cannot encode the patch: {e}")),
    }
}

/// The pod's name, or its `generateName` prefix before the apiserver picks one.
fn pod_name(pod: &Pod) -> String {
    let meta = &pod.metadata;
    meta.name
        .clone()
        .or_else(|| meta.generate_name.as_ref().map(|g| format!("{g}*")))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
