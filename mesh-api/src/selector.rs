//! What a resource applies to: workloads picked by labels, or a referenced object.
//!
//! Istio has two label selectors: the security kinds (and DestinationRule) use
//! `istio.type.v1beta1.WorkloadSelector` with `matchLabels`; ServiceEntry and Sidecar use
//! `istio.networking.v1alpha3.WorkloadSelector` with `labels`. Both are here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Selects workloads by labels (`selector: {matchLabels: ...}`); an empty selector selects
/// every workload in the namespace (in the root namespace: the whole mesh).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadSelector {
    /// Labels a workload must all carry to be selected; wildcards are not allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// Selects workloads by labels, in the form ServiceEntry and Sidecar use
/// (`workloadSelector: {labels: ...}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkingWorkloadSelector {
    /// Labels a pod or VM must all carry to be selected; wildcards are not allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Names the object a policy attaches to (a Gateway API `Gateway`, a `Service`, ...),
/// instead of selecting workloads by label.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyTargetReference {
    /// API group of the target (`gateway.networking.k8s.io`; empty for the core group).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind of the target, e.g. `Gateway` or `Service`. Required.
    #[serde(
        deserialize_with = "crate::networking::constraints::required",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(required)]
    pub kind: Option<String>,
    /// Name of the target. Required.
    #[serde(
        deserialize_with = "crate::networking::constraints::required",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(required)]
    pub name: Option<String>,
    /// Namespace of the target; must be empty or the policy's own namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl WorkloadSelector {
    /// Whether a workload with `labels` is selected.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        selects(&self.match_labels, labels)
    }
}

impl NetworkingWorkloadSelector {
    /// Whether a workload with `labels` is selected.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        selects(&self.labels, labels)
    }
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_needs_every_label() {
        let selector: WorkloadSelector =
            serde_norway::from_str("matchLabels: {app: reviews, version: v1}").unwrap();
        let mut labels: BTreeMap<String, String> =
            [("app".to_string(), "reviews".to_string())].into();
        assert!(!selector.selects(&labels));
        labels.insert("version".into(), "v1".into());
        assert!(selector.selects(&labels));
        assert!(WorkloadSelector::default().selects(&BTreeMap::new()));
    }

    #[test]
    fn target_reference_requires_kind_and_name() {
        let err = serde_norway::from_str::<PolicyTargetReference>("kind: Gateway").unwrap_err();
        assert!(err.to_string().contains("missing field `name`"), "{err}");
    }
}
