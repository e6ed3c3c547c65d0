//! Sidecar injection, pure: whether a pod gets a sidecar ([`decide`]) and the pod it
//! becomes ([`inject`]), shared by the admission webhook (`mesh-control`) and
//! `meshctl inject`. Istio's injector (`injection-template.yaml` and
//! `pkg/kube/inject`) is the yardstick: the same annotations, labels, volumes,
//! probes and ordering, with our one binary (`mesh-proxy run`, `mesh-proxy
//! redirect`) and our `MESH_*` environment in place of pilot-agent's.
//!
//! [`inject`] reads top-down: the pod's annotations into `PodSettings`; the
//! `mesh-redirect` init container (`redirect`); app probes rewritten to the
//! proxy's status port (`probes`); the proxy container and its volumes
//! (`proxy`); placed as a native sidecar or as a container; then the labels and
//! the status annotation (`metadata`). [`json_patch`] is the change as a JSONPatch
//! for the pod as it was sent.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};

mod config;
mod decision;
mod metadata;
mod patch;
mod probes;
mod proxy;
mod redirect;
mod settings;

pub use config::{InjectionConfig, KubernetesVersion, NativeSidecarMode, ProxyResources};
pub use decision::{
    Decision, IGNORED_NAMESPACES, InjectReason, MESH_NAMESPACE_INJECT, MESH_POD_INJECT,
    NAMESPACE_INJECT, NamespaceInjection, POD_INJECT, SkipReason, decide, is_injected,
};
pub use metadata::{STATUS_ANNOTATION, SidecarInjectionStatus, workload_name};
pub use patch::json_patch;
pub use probes::{APP_PROBERS_ENV, AppProber, STATUS_PORT};
pub use settings::PodSettings;

/// The proxy container (Istio's `istio-proxy`).
pub const PROXY_CONTAINER: &str = "mesh-proxy";
/// The init container that installs the capture rules (Istio's `istio-init`).
pub const REDIRECT_CONTAINER: &str = "mesh-redirect";

/// Why a pod cannot be injected; names the annotation (or field) and what to write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    #[error("annotation {annotation}: {message}")]
    Annotation { annotation: String, message: String },
    #[error("the pod has no spec")]
    NoSpec,
}

/// Returns `pod` with a sidecar: call it only when [`decide`] says inject.
/// `workload` names what the pod belongs to (a Deployment's name; see
/// [`workload_name`]) for the canonical-name label; `kubernetes` is the apiserver's
/// version, for `nativeSidecar: auto` (`None`: native).
pub fn inject(
    pod: &Pod,
    workload: &str,
    config: &InjectionConfig,
    kubernetes: Option<KubernetesVersion>,
) -> Result<Pod, InjectError> {
    let settings = PodSettings::read(pod, config, kubernetes)?;
    let mut out = pod.clone();
    metadata::add_labels(&mut out, workload);
    let spec = out.spec.as_mut().ok_or(InjectError::NoSpec)?;
    let app_probers = if settings.rewrite_probes {
        probes::rewrite(spec)
    } else {
        None
    };
    let redirect = settings
        .intercept
        .then(|| redirect::container(config, &settings));
    let proxy = proxy::container(config, &settings, &out.metadata, app_probers);
    proxy::add_volumes(spec, config);
    let injected = place(spec, redirect, proxy, &settings);
    metadata::annotate(&mut out, &injected);
    Ok(out)
}

/// Reads a Pod from JSON (an admission request's object, a manifest's pod
/// template); the error names the field (`spec.containers[0].ports: invalid type…`).
pub fn pod_from_json(value: serde_json::Value) -> Result<Pod, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("{path}: {}", e.into_inner())
    })
}

/// Istio's order. Native: `mesh-redirect`, `mesh-proxy`, then the pod's init
/// containers (so that they are in the mesh), since Kubernetes starts the app only
/// once the proxy's startupProbe passes. Classic: the pod's init containers, then
/// `mesh-redirect` (earlier init containers keep their network); the proxy last,
/// or first with holdApplicationUntilProxyStarts (its postStart hook then holds
/// the next containers). Returns what was added, for the status annotation.
fn place(
    spec: &mut PodSpec,
    redirect: Option<Container>,
    proxy: Container,
    settings: &PodSettings,
) -> metadata::Injected {
    let mut injected = metadata::Injected::default();
    let init = spec.init_containers.get_or_insert_with(Vec::new);
    if let Some(redirect) = &redirect {
        injected.init_containers.push(redirect.name.clone());
    }
    if settings.native_sidecar {
        injected.init_containers.push(proxy.name.clone());
        let front = redirect.into_iter().chain([proxy]);
        init.splice(0..0, front);
    } else {
        init.extend(redirect);
        injected.containers.push(proxy.name.clone());
        if settings.hold_application {
            spec.containers.insert(0, proxy);
        } else {
            spec.containers.push(proxy);
        }
    }
    if spec.init_containers.as_ref().is_some_and(Vec::is_empty) {
        spec.init_containers = None;
    }
    injected.volumes = proxy::VOLUMES.iter().map(|v| v.to_string()).collect();
    injected
}

#[cfg(test)]
mod tests;
