//! ServiceEntry: adds a service (usually one outside the mesh) to the registry.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::constraints::required;
use super::workload_entry::WorkloadEntrySpec;
use crate::selector::NetworkingWorkloadSelector;

/// A service in the registry: its hosts, addresses and ports, and where its endpoints
/// come from (DNS, inline `endpoints` or workloads picked by `workloadSelector`).
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "networking.mesh.dev",
    version = "v1alpha1",
    kind = "ServiceEntry",
    plural = "serviceentries",
    singular = "serviceentry",
    namespaced,
    shortname = "se",
    category = "mesh-dev",
    category = "networking-mesh-dev",
    derive = "PartialEq",
    doc = "A ServiceEntry (Istio's `networking.istio.io` kind, served as `networking.mesh.dev/v1alpha1`).",
    printcolumn = r#"{"name":"Hosts","type":"string","description":"The hosts associated with the ServiceEntry","jsonPath":".spec.hosts"}"#,
    printcolumn = r#"{"name":"Location","type":"string","description":"Whether the service is external to the mesh or part of the mesh (MESH_EXTERNAL or MESH_INTERNAL)","jsonPath":".spec.location"}"#,
    printcolumn = r#"{"name":"Resolution","type":"string","description":"Service resolution mode for the hosts (NONE, STATIC, or DNS)","jsonPath":".spec.resolution"}"#,
    printcolumn = r#"{"name":"Age","type":"date","description":"Time since the object was created","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceEntrySpec {
    /// Host names of the service (wildcards allowed, `*` alone not). Required.
    pub hosts: Vec<String>,
    /// Virtual IPs (or CIDRs) of the service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    /// Ports of the service (numbers unique).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ServicePort>,
    /// Inside or outside the mesh; default MESH_EXTERNAL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<ServiceEntryLocation>,
    /// How endpoints are found; default NONE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ServiceEntryResolution>,
    /// Endpoints of the service; exclusive with `workloadSelector`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<WorkloadEntrySpec>,
    /// Pods and WorkloadEntries that are the endpoints (MESH_INTERNAL only); exclusive
    /// with `endpoints`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_selector: Option<NetworkingWorkloadSelector>,
    /// Namespaces that see this service (`.` this one, `*` all); default all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export_to: Vec<String>,
    /// Names the service's certificate must carry (SAN), checked by the client proxy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_alt_names: Vec<String>,
}

/// A port of a ServiceEntry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port number, 1-65535. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub number: Option<u32>,
    /// `HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP` or `TLS`; detected when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Name of the port. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub name: Option<String>,
    /// Port on the endpoints traffic goes to; default `number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
}

/// Whether a ServiceEntry's service is part of the mesh.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceEntryLocation {
    /// Outside the mesh: no mTLS, policies enforced on the client side only.
    MeshExternal,
    /// Part of the mesh (e.g. VMs with proxies).
    MeshInternal,
}

/// How a ServiceEntry's endpoints are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceEntryResolution {
    /// None: connections go to the address the caller used.
    None,
    /// The addresses in `endpoints` (or of the selected workloads).
    Static,
    /// DNS, resolving the hosts (or the endpoints' addresses); all addresses used.
    Dns,
    /// DNS, using the first address returned only.
    DnsRoundRobin,
    /// DNS, resolving the requested host on demand (wildcard hosts).
    DynamicDns,
}
