//! What injection adds to the pod's metadata: Istio's labels (`security.istio.io/
//! tlsMode`, which auto mTLS reads, and the canonical service labels) and the
//! `sidecar.istio.io/status` annotation that marks the pod as injected.

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};

use super::PROXY_CONTAINER;

/// Istio's status annotation: what injection added, so that it is done once.
pub const STATUS_ANNOTATION: &str = "sidecar.istio.io/status";
pub(super) const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
pub(super) const CANONICAL_NAME_LABEL: &str = "service.istio.io/canonical-name";
pub(super) const CANONICAL_REVISION_LABEL: &str = "service.istio.io/canonical-revision";
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";
const DEFAULT_LOGS_CONTAINER: &str = "kubectl.kubernetes.io/default-logs-container";

/// The value of [`STATUS_ANNOTATION`], in Istio's shape (field names and order).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SidecarInjectionStatus {
    pub init_containers: Option<Vec<String>>,
    pub containers: Option<Vec<String>>,
    pub volumes: Option<Vec<String>>,
    pub image_pull_secrets: Option<Vec<String>>,
    pub revision: String,
}

/// The names of what was added.
#[derive(Clone, Debug, Default)]
pub(super) struct Injected {
    pub init_containers: Vec<String>,
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
}

/// The name of the workload a pod belongs to, as Istio's webhook derives it: a
/// ReplicaSet's owner is the Deployment (its name less `-<pod-template-hash>`), a
/// Job made by a CronJob is named after it plus `-<8 to 10 digits>`; otherwise the owning
/// controller, else `generateName` without its dash, else the pod's name.
pub fn workload_name(pod: &Pod) -> String {
    let meta = &pod.metadata;
    let controller = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true));
    if let Some(owner) = controller {
        let hash = meta
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"));
        if owner.kind == "ReplicaSet"
            && let Some(hash) = hash
            && let Some(name) = owner.name.strip_suffix(&format!("-{hash}"))
        {
            return name.to_string();
        }
        if owner.kind == "Job"
            && let Some((cron, stamp)) = owner.name.rsplit_once('-')
            && (8..=10).contains(&stamp.len())
            && stamp.bytes().all(|b| b.is_ascii_digit())
        {
            return cron.to_string();
        }
        return owner.name.clone();
    }
    if let Some(prefix) = &meta.generate_name {
        return prefix.trim_end_matches('-').to_string();
    }
    meta.name.clone().unwrap_or_default()
}

/// Istio's labels, each kept when the pod already has it.
pub(super) fn add_labels(pod: &mut Pod, workload: &str) {
    let labels = pod.metadata.labels.get_or_insert_with(Default::default);
    let first = |keys: &[&str]| keys.iter().find_map(|k| labels.get(*k).cloned());
    let name = first(&[CANONICAL_NAME_LABEL, "app.kubernetes.io/name", "app"])
        .unwrap_or_else(|| workload.to_string());
    let name: String = name.chars().take(63).collect();
    let name = name.trim_matches(['-', '_', '.']).to_string();
    let revision = first(&[
        CANONICAL_REVISION_LABEL,
        "app.kubernetes.io/version",
        "version",
    ])
    .unwrap_or_else(|| "latest".into());
    labels
        .entry(TLS_MODE_LABEL.into())
        .or_insert_with(|| "istio".into());
    labels.insert(CANONICAL_NAME_LABEL.into(), name);
    labels.insert(CANONICAL_REVISION_LABEL.into(), revision);
}

/// The status annotation, and kubectl's default container (the first app container,
/// so that `kubectl logs` and `exec` do not land in the proxy).
pub(super) fn annotate(pod: &mut Pod, injected: &Injected) {
    let first_app = pod.spec.as_ref().and_then(|s| {
        s.containers
            .iter()
            .find(|c| c.name != PROXY_CONTAINER)
            .map(|c| c.name.clone())
    });
    let status = SidecarInjectionStatus {
        init_containers: some(&injected.init_containers),
        containers: some(&injected.containers),
        volumes: some(&injected.volumes),
        image_pull_secrets: None,
        revision: "default".into(),
    };
    let annotations = pod
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    if let Some(app) = first_app {
        for key in [DEFAULT_LOGS_CONTAINER, DEFAULT_CONTAINER] {
            annotations.entry(key.into()).or_insert_with(|| app.clone());
        }
    }
    let status = serde_json::to_string(&status).unwrap_or_else(|_| "{}".into());
    annotations.insert(STATUS_ANNOTATION.into(), status);
}

/// Go marshals an empty slice it never appended to as `null`.
fn some(names: &[String]) -> Option<Vec<String>> {
    (!names.is_empty()).then(|| names.to_vec())
}
