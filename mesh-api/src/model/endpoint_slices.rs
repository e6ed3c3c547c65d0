//! The endpoints of Kubernetes Services from their EndpointSlices, as Istio's
//! Kubernetes registry reads them: the slices labelled `kubernetes.io/service-name`,
//! their ready endpoints, each enriched from the Pod behind it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use imbl::OrdMap;
use k8s_openapi::api::discovery::v1::{self as discovery, EndpointSlice};

use super::{Endpoint, ServicePort, Workload};
use crate::object::{Kind, MeshObject, ObjectRef};

/// The label that ties an EndpointSlice to its Service (same namespace).
pub(super) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The name of the Service an EndpointSlice belongs to.
pub(super) fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)
        .map(String::as_str)
}

/// The EndpointSlices of `namespace`, in reference order.
pub(super) fn slices_in<'m>(
    objects: &'m OrdMap<ObjectRef, Arc<MeshObject>>,
    namespace: &'m str,
) -> impl Iterator<Item = &'m EndpointSlice> + 'm {
    of_kind(objects, Kind::EndpointSlice, Some(namespace)).filter_map(|(_, o)| match o.as_ref() {
        MeshObject::EndpointSlice(slice) => Some(slice.as_ref()),
        _ => None,
    })
}

/// Whether a slice lists the pod `name` (by targetRef) or any of `addresses`.
pub(super) fn slice_lists_pod(slice: &EndpointSlice, name: &str, addresses: &[&str]) -> bool {
    slice.endpoints.iter().any(|e| {
        pod_target(e) == Some(name) || e.addresses.iter().any(|a| addresses.contains(&a.as_str()))
    })
}

/// EndpointSlices by Service, and Pod workloads by address, for the namespaces given.
pub(super) struct EndpointSliceIndex<'m> {
    /// By namespace and Service name, in slice reference order.
    slices: HashMap<(&'m str, &'m str), Vec<&'m EndpointSlice>>,
    workloads: &'m OrdMap<ObjectRef, Workload>,
    /// Pods by namespace and IP; of two pods with one IP, the first by name.
    pods_by_address: HashMap<(&'m str, &'m str), &'m ObjectRef>,
}

impl<'m> EndpointSliceIndex<'m> {
    /// The index of `namespaces`, or of every namespace when `None`. An update
    /// indexes only the namespaces it touches: its cost is theirs, not the mesh's.
    pub(super) fn new(
        objects: &'m OrdMap<ObjectRef, Arc<MeshObject>>,
        workloads: &'m OrdMap<ObjectRef, Workload>,
        namespaces: Option<&[&'m str]>,
    ) -> Self {
        let scopes: Vec<Option<&str>> = match namespaces {
            None => vec![None],
            Some(namespaces) => namespaces.iter().map(|n| Some(*n)).collect(),
        };
        let mut index = EndpointSliceIndex {
            slices: HashMap::new(),
            workloads,
            pods_by_address: HashMap::new(),
        };
        for scope in scopes {
            for (r, object) in of_kind(objects, Kind::EndpointSlice, scope) {
                if let MeshObject::EndpointSlice(slice) = object.as_ref()
                    && let Some(service) = slice_service(slice)
                {
                    let key = (r.namespace.as_str(), service);
                    index.slices.entry(key).or_default().push(slice);
                }
            }
            for (r, w) in of_kind(workloads, Kind::Pod, scope) {
                let key = (r.namespace.as_str(), w.address.as_str());
                index.pods_by_address.entry(key).or_insert(r);
            }
        }
        index
    }

    /// The endpoints the EndpointSlices of Service `namespace/name` give its `ports`:
    /// ready, not terminating, one per address (the first of each slice endpoint, as
    /// kube-proxy reads them), sorted by address. FQDN slices give none: Kubernetes
    /// Services do not route to them either.
    pub(super) fn endpoints(
        &self,
        namespace: &str,
        name: &str,
        ports: &[ServicePort],
    ) -> Vec<Endpoint> {
        let Some(slices) = self.slices.get(&(namespace, name)) else {
            return Vec::new();
        };
        let mut endpoints: Vec<Endpoint> = slices
            .iter()
            .filter(|s| matches!(s.address_type.as_str(), "IPv4" | "IPv6"))
            .flat_map(|slice| {
                let port_map = port_map(slice, ports);
                slice
                    .endpoints
                    .iter()
                    .filter(|e| is_ready(e))
                    .filter_map(move |e| self.endpoint(namespace, e, port_map.clone()))
            })
            .collect();
        // A stable sort: of an address listed by two slices (while the controller
        // moves it), the first slice's endpoint stays.
        endpoints.sort_by(|a, b| a.address.cmp(&b.address));
        endpoints.dedup_by(|a, b| a.address == b.address);
        endpoints
    }

    fn endpoint(
        &self,
        namespace: &str,
        e: &discovery::Endpoint,
        ports: BTreeMap<u16, u16>,
    ) -> Option<Endpoint> {
        let address = e.addresses.first().filter(|a| !a.is_empty())?;
        let pod = self.pod(namespace, e, address);
        Some(Endpoint {
            workload: pod.map(|(r, _)| r.clone()),
            address: address.clone(),
            ports,
            labels: pod.map(|(_, w)| w.labels.clone()).unwrap_or_default(),
            service_account: pod.map(|(_, w)| w.service_account.clone()),
            locality: pod.and_then(|(_, w)| w.locality.clone()),
            weight: None,
        })
    }

    /// The pod behind a slice endpoint: the one its targetRef names, else (no Pod
    /// targetRef: a slice written by hand) the pod with its address.
    fn pod(
        &self,
        namespace: &str,
        e: &discovery::Endpoint,
        address: &str,
    ) -> Option<(&'m ObjectRef, &'m Workload)> {
        let workloads = self.workloads;
        match pod_target(e) {
            Some(name) => workloads.get_key_value(&ObjectRef {
                kind: Kind::Pod,
                namespace: namespace.to_string(),
                name: name.to_string(),
            }),
            None => {
                let r = self.pods_by_address.get(&(namespace, address))?;
                workloads.get_key_value(*r)
            }
        }
    }
}

/// The Pod a slice endpoint's targetRef names (in the slice's namespace).
fn pod_target(e: &discovery::Endpoint) -> Option<&str> {
    let target = e.target_ref.as_ref()?;
    (target.kind.as_deref() == Some("Pod"))
        .then_some(target.name.as_deref())
        .flatten()
}

/// Kubernetes documents an unset `ready` as ready; a terminating endpoint takes no
/// new connections (Istio sends neither to proxies by default).
fn is_ready(e: &discovery::Endpoint) -> bool {
    let conditions = e.conditions.as_ref();
    conditions.and_then(|c| c.ready) != Some(false)
        && conditions.and_then(|c| c.terminating) != Some(true)
}

/// Service port → the slice's port for it: the slice port named as the service port
/// (the controller names them so; `""` for an unnamed single port), TCP only.
fn port_map(slice: &EndpointSlice, ports: &[ServicePort]) -> BTreeMap<u16, u16> {
    let slice_ports = slice.ports.as_deref().unwrap_or_default();
    ports
        .iter()
        .filter_map(|p| {
            let name = p.name.as_deref().unwrap_or_default();
            let found = slice_ports.iter().find(|s| {
                s.name.as_deref().unwrap_or_default() == name
                    && s.protocol.as_deref().unwrap_or("TCP") == "TCP"
            })?;
            Some((p.port, u16::try_from(found.port?).ok()?))
        })
        .collect()
}

/// The entries of `kind`, of one namespace or of all, in reference order: a range of
/// the map, not a scan of it.
pub(super) fn of_kind<'m, V>(
    map: &'m OrdMap<ObjectRef, V>,
    kind: Kind,
    namespace: Option<&'m str>,
) -> impl Iterator<Item = (&'m ObjectRef, &'m V)> + 'm {
    let start = ObjectRef {
        kind,
        namespace: namespace.unwrap_or_default().to_string(),
        name: String::new(),
    };
    map.range(start..)
        .take_while(move |(r, _)| r.kind == kind && namespace.is_none_or(|n| r.namespace == n))
}

#[cfg(test)]
mod tests;
