//! WorkloadEntry: a workload outside Kubernetes (a VM, a bare process), selected by
//! services like a pod. Its spec is also the form of a ServiceEntry's inline endpoint.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An endpoint: its address, named ports, labels and identity.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "networking.mesh.dev",
    version = "v1alpha1",
    kind = "WorkloadEntry",
    plural = "workloadentries",
    singular = "workloadentry",
    namespaced,
    shortname = "we",
    category = "mesh-dev",
    category = "networking-mesh-dev",
    derive = "PartialEq",
    doc = "A WorkloadEntry (Istio's `networking.istio.io` kind, served as `networking.mesh.dev/v1alpha1`).",
    printcolumn = r#"{"name":"Age","type":"date","description":"Time since the object was created","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"Address","type":"string","description":"Address associated with the network endpoint.","jsonPath":".spec.address"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkloadEntrySpec {
    /// IP address or DNS name (without port), or `unix:///path`; may be omitted when
    /// `network` is set (reached through that network's gateway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port numbers by port name (the service port's name or target name).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ports: BTreeMap<String, u32>,
    /// Labels, matched by service selectors.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Network the endpoint is on; endpoints on the caller's network are reached directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Locality, `region/zone/subzone`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// Load balancing weight; unset or 0 counts as 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Service account the workload runs as, i.e. its identity (with a proxy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
}

impl WorkloadEntrySpec {
    /// The load balancing weight, 1 when unset or 0.
    pub fn weight_or_default(&self) -> u32 {
        self.weight.filter(|w| *w > 0).unwrap_or(1)
    }
}
