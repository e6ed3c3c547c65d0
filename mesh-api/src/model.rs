//! The mesh model: services with their ports, endpoints and subsets, workloads with the
//! policies that select them, and the routing config that applies to each service.
//!
//! [`MeshModel::build`] is a pure function of a set of objects: the CLI builds it to
//! analyze files, the control plane when it starts. After that the control plane
//! [`MeshModel::update`]s it with each change and learns what changed ([`ModelDelta`]),
//! which decides what is re-translated and pushed. The model's maps are persistent
//! (`imbl`): an updated model shares everything but what changed with the last one,
//! so an update costs what changed, not the size of the mesh.

use std::collections::BTreeMap;
use std::sync::Arc;

use imbl::{OrdMap, OrdSet};

use crate::object::{MeshObject, ObjectRef};

mod delta;
mod endpoint_slices;
mod endpoints;
pub mod hostname;
mod index;
mod peer_authentication;
mod pods;
pub mod policies;
mod protocol;
mod update;
pub mod virtual_ip;

pub use delta::{ModelDelta, Reach};
pub use peer_authentication::{MtlsPolicy, compose_peer_authentications};
pub use protocol::Protocol;
pub use update::ObjectChange;

/// The root namespace (Istio's `istio-system`, where mesh-control runs): policies
/// here apply to the whole mesh.
pub const DEFAULT_ROOT_NAMESPACE: &str = "mesh-system";
/// The trust domain of workload identities (`spiffe://<trust-domain>/ns/…`), Istio's.
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

/// Mesh-wide settings the model depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSettings {
    /// Namespace whose selector-less policies apply mesh-wide.
    pub root_namespace: String,
    /// Trust domain of the workload identities proxies present and verify.
    pub trust_domain: String,
}

/// The mesh as the control plane sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MeshModel {
    /// Services by FQDN (`reviews.bookinfo.svc.cluster.local`, or a ServiceEntry host).
    pub services: OrdMap<String, Service>,
    /// Workloads (WorkloadEntries, and Pods that have an IP and have not finished) by
    /// reference.
    pub workloads: OrdMap<ObjectRef, Workload>,
    /// Every object the model was built from, by reference.
    pub objects: OrdMap<ObjectRef, Arc<MeshObject>>,
    /// Every name a client may use for a service (`reviews.bookinfo`, …) to its FQDN.
    /// Bare short names are not here: they depend on the client's namespace.
    pub aliases: OrdMap<String, String>,
    /// Namespaces that hold at least one object.
    pub namespaces: OrdSet<String>,
    pub settings: MeshSettings,
}

/// Where a service comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOrigin {
    /// A `v1 Service`.
    Kubernetes,
    /// One host of a ServiceEntry.
    ServiceEntry(ObjectRef),
}

/// How a service's endpoints are found, as ServiceEntry's `resolution`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Resolution {
    /// Endpoints are listed (Kubernetes services, STATIC entries).
    Static,
    /// Endpoints are DNS names resolved by the proxy.
    Dns,
    /// Traffic goes to the address the client asked for.
    Passthrough,
}

/// A service: a hostname with ports, backed by endpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub hostname: String,
    pub name: String,
    pub namespace: String,
    pub origin: ServiceOrigin,
    /// The virtual IP clients dial (`spec.clusterIP`, ServiceEntry `addresses`).
    pub addresses: Vec<String>,
    pub ports: Vec<ServicePort>,
    pub endpoints: Vec<Endpoint>,
    pub resolution: Resolution,
    /// False for ServiceEntries with `location: MESH_EXTERNAL`.
    pub mesh_internal: bool,
    /// Namespaces that may see the service (`exportTo`); empty means all.
    pub export_to: Vec<String>,
    /// The routing and traffic policy that apply to the service.
    pub policies: ServicePolicies,
}

/// One port of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub target_port: TargetPort,
    pub protocol: Protocol,
    /// Whether the protocol came from a name or appProtocol (not detection).
    pub protocol_explicit: bool,
}

/// Where a service port's traffic lands on an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum TargetPort {
    Number(u16),
    /// A named port of the workload (`WorkloadEntry.ports`).
    Name(String),
}

/// One backend of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The WorkloadEntry or Pod behind the endpoint; `None` for a ServiceEntry's inline
    /// endpoint and for an EndpointSlice endpoint whose pod the model does not know.
    pub workload: Option<ObjectRef>,
    /// IP address, DNS name (DNS resolution) or `unix://` path.
    pub address: String,
    /// Service port → the endpoint's port for it.
    pub ports: BTreeMap<u16, u16>,
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
    pub locality: Option<String>,
    pub weight: Option<u32>,
}

/// The routing config that applies to a service, most relevant first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServicePolicies {
    /// VirtualServices bound to the mesh (sidecars) whose hosts cover the service.
    pub virtual_services: Vec<ObjectRef>,
    /// DestinationRules whose host covers the service, in Istio's precedence for a
    /// client in the service's own namespace: exact host before wildcard, then the
    /// service's namespace, the root namespace, any other.
    pub destination_rules: Vec<ObjectRef>,
    /// Subset names of the first DestinationRule.
    pub subsets: Vec<String>,
}

/// A workload: one WorkloadEntry (a pod, in universal mode) or one Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub name: String,
    pub namespace: String,
    pub address: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: String,
    /// Named ports of the workload.
    pub ports: BTreeMap<String, u16>,
    pub network: Option<String>,
    pub locality: Option<String>,
    /// FQDNs of the services whose endpoints it is: selected by a Service
    /// (WorkloadEntries) or a ServiceEntry, or listed by a Service's EndpointSlices (Pods).
    pub services: Vec<String>,
    pub policies: WorkloadPolicies,
}

/// The security policies that select a workload, mesh-wide ones first, then
/// namespace-wide, then those with a selector (the order in which Istio layers them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadPolicies {
    pub peer_authentications: Vec<ObjectRef>,
    pub authorization_policies: Vec<ObjectRef>,
    pub request_authentications: Vec<ObjectRef>,
}

impl Default for MeshSettings {
    fn default() -> Self {
        MeshSettings {
            root_namespace: DEFAULT_ROOT_NAMESPACE.to_string(),
            trust_domain: DEFAULT_TRUST_DOMAIN.to_string(),
        }
    }
}

impl MeshModel {
    /// Builds the model from objects. Objects must have distinct references; the
    /// caller resolves duplicates (and reports them) first.
    pub fn build(
        objects: impl IntoIterator<Item = Arc<MeshObject>>,
        settings: MeshSettings,
    ) -> MeshModel {
        index::build(objects, settings)
    }

    /// The FQDN a host written in config of `namespace` refers to: short names are
    /// services of that namespace; `name.ns` and `name.ns.svc` are known aliases.
    pub fn resolve_host(&self, host: &str, namespace: &str) -> String {
        if let Some(fqdn) = self.aliases.get(host) {
            return fqdn.clone();
        }
        hostname::resolve_short_name(host, namespace)
    }

    /// The service a host written in config of `namespace` names, if it exists.
    /// Wildcard ServiceEntry hosts (`*.example.com`) cover the names under them.
    pub fn find_service(&self, host: &str, namespace: &str) -> Option<&Service> {
        let fqdn = self.resolve_host(host, namespace);
        self.services.get(&fqdn).or_else(|| {
            self.services
                .values()
                .find(|s| s.hostname.starts_with('*') && hostname::host_matches(&s.hostname, &fqdn))
        })
    }

    pub fn object(&self, r: &ObjectRef) -> Option<&MeshObject> {
        self.objects.get(r).map(|o| o.as_ref())
    }

    /// Objects of one kind, in reference order.
    pub fn objects_of(
        &self,
        kind: crate::object::Kind,
    ) -> impl Iterator<Item = (&ObjectRef, &MeshObject)> {
        self.objects
            .iter()
            .filter(move |(r, _)| r.kind == kind)
            .map(|(r, o)| (r, o.as_ref()))
    }
}

#[cfg(test)]
mod tests;
