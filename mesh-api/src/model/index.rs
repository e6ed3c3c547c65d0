//! Builds the [`MeshModel`] from a set of objects: services from `v1 Service`s and
//! ServiceEntries, workloads from WorkloadEntries and Pods, endpoints from selected
//! WorkloadEntries and EndpointSlices, then the policies of each.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::Arc;

use imbl::OrdMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::endpoint_slices::EndpointSliceIndex;
use super::endpoints::{inline_endpoint, selects, workload_endpoint};
use super::hostname::{resolve_short_name, service_aliases, service_fqdn};
use super::pods::pod_workload;
use super::policies;
use super::virtual_ip;
use super::{
    MeshModel, MeshSettings, Protocol, Resolution, Service, ServiceOrigin, ServicePolicies,
    ServicePort, TargetPort, Workload, WorkloadPolicies,
};
use crate::networking::{
    ServiceEntry, ServiceEntryLocation, ServiceEntryResolution, WorkloadEntry,
};
use crate::object::{Kind, MeshObject, ObjectRef};

pub(super) fn build(
    objects: impl IntoIterator<Item = Arc<MeshObject>>,
    settings: MeshSettings,
) -> MeshModel {
    let mut model = MeshModel {
        settings,
        ..MeshModel::default()
    };
    for object in objects {
        let r = object.object_ref();
        // A cluster-scoped object (a Namespace) is in no namespace.
        if !r.kind.is_cluster_scoped() {
            model.namespaces.insert(r.namespace.clone());
        }
        model.objects.insert(r, object);
    }
    for (r, object) in &model.objects {
        let workload = match object.as_ref() {
            MeshObject::WorkloadEntry(we) => Some(workload(r, we)),
            MeshObject::Pod(pod) => pod_workload(r, pod),
            _ => None,
        };
        if let Some(workload) = workload {
            model.workloads.insert(r.clone(), workload);
        }
    }
    let workloads = model.workloads.clone();
    let objects = model.objects.clone();
    // Service selectors never pick Pods (Kubernetes' EndpointSlice controller does, and
    // the slices say whom); ServiceEntry workloadSelectors pick both, as Istio's.
    let selectable = SelectableWorkloads::new(&workloads, &[Kind::WorkloadEntry]);
    let selectable_by_entries =
        SelectableWorkloads::new(&workloads, &[Kind::WorkloadEntry, Kind::Pod]);
    let slices = EndpointSliceIndex::new(&objects, &workloads, None);
    let kube_services: Vec<Service> = objects
        .iter()
        .filter_map(|(r, o)| match o.as_ref() {
            MeshObject::Service(svc) => Some(kubernetes_service(r, svc, &selectable, &slices)),
            _ => None,
        })
        .collect();
    for service in kube_services {
        for alias in service_aliases(&service.name, &service.namespace)
            .into_iter()
            .skip(1)
        {
            model.aliases.insert(alias, service.hostname.clone());
        }
        model.services.insert(service.hostname.clone(), service);
    }
    allocate_virtual_ips(&mut model);
    let entry_services: Vec<Service> = model
        .objects
        .iter()
        .filter_map(|(r, o)| match o.as_ref() {
            MeshObject::ServiceEntry(se) => {
                Some(service_entry_services(r, se, &selectable_by_entries))
            }
            _ => None,
        })
        .flatten()
        .collect();
    for service in entry_services {
        // A Kubernetes service keeps its host; a ServiceEntry cannot take it over.
        model
            .aliases
            .entry(service.hostname.clone())
            .or_insert_with(|| service.hostname.clone());
        model
            .services
            .entry(service.hostname.clone())
            .or_insert(service);
    }
    link_workloads_to_services(&mut model);
    policies::attach(&mut model);
    model
}

/// Gives a VIP to each Service that left `spec.clusterIP` out (universal mode);
/// `clusterIP: None` (headless) keeps none.
fn allocate_virtual_ips(model: &mut MeshModel) {
    let wanting: Vec<String> = model
        .objects
        .iter()
        .filter_map(|(r, o)| match o.as_ref() {
            MeshObject::Service(svc)
                if svc.spec.as_ref().is_none_or(|s| {
                    s.cluster_ip.is_none() && s.cluster_ips.as_ref().is_none_or(Vec::is_empty)
                }) =>
            {
                Some(service_fqdn(&r.name, &r.namespace))
            }
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if wanting.is_empty() {
        return;
    }
    let taken: Vec<Ipv4Addr> = model
        .objects
        .values()
        .flat_map(|o| match o.as_ref() {
            MeshObject::Service(svc) => svc
                .spec
                .iter()
                .flat_map(|s| s.cluster_ip.iter().chain(s.cluster_ips.iter().flatten()))
                .cloned()
                .collect::<Vec<_>>(),
            MeshObject::ServiceEntry(se) => se.spec.addresses.clone(),
            _ => Vec::new(),
        })
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .collect();
    let vips = virtual_ip::allocate(wanting.iter().map(String::as_str), taken);
    for (hostname, vip) in wanting.iter().zip(vips) {
        // `None` only once a million addresses are taken: the service stays without a VIP.
        if let (Some(service), Some(vip)) = (model.services.get_mut(hostname), vip) {
            service.addresses = vec![vip.to_string()];
        }
    }
}

/// Workloads by namespace and by label, so that a selector is matched against the
/// workloads that carry one of its labels rather than against every workload of the
/// mesh (services × workloads was the largest cost of building a large mesh).
struct SelectableWorkloads<'m> {
    by_namespace: HashMap<&'m str, Vec<Selectable<'m>>>,
    /// By namespace, label key and label value.
    by_label: HashMap<(&'m str, &'m str, &'m str), Vec<Selectable<'m>>>,
}

type Selectable<'m> = (&'m ObjectRef, &'m Workload);

impl<'m> SelectableWorkloads<'m> {
    /// The workloads of `kinds`.
    fn new(workloads: &'m OrdMap<ObjectRef, Workload>, kinds: &[Kind]) -> Self {
        let mut index = SelectableWorkloads {
            by_namespace: HashMap::new(),
            by_label: HashMap::new(),
        };
        // In reference order, so that every list is too.
        for (r, w) in workloads.iter().filter(|(r, _)| kinds.contains(&r.kind)) {
            index
                .by_namespace
                .entry(r.namespace.as_str())
                .or_default()
                .push((r, w));
            for (k, v) in &w.labels {
                index
                    .by_label
                    .entry((r.namespace.as_str(), k.as_str(), v.as_str()))
                    .or_default()
                    .push((r, w));
            }
        }
        index
    }

    /// The workloads of `namespace` that `selector` selects, in reference order.
    fn selected<'s>(
        &'s self,
        namespace: &'s str,
        selector: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'m ObjectRef, &'m Workload)> + 's {
        let candidates = match selector.iter().next() {
            Some((k, v)) => self.by_label.get(&(namespace, k.as_str(), v.as_str())),
            None => self.by_namespace.get(namespace),
        };
        candidates
            .into_iter()
            .flatten()
            .copied()
            .filter(move |(_, w)| selects(selector, &w.labels))
    }
}

pub(super) fn workload(r: &ObjectRef, we: &WorkloadEntry) -> Workload {
    let spec = &we.spec;
    Workload {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        address: spec.address.clone().unwrap_or_default(),
        labels: spec.labels.clone(),
        service_account: spec
            .service_account
            .clone()
            .unwrap_or_else(|| "default".to_string()),
        ports: spec
            .ports
            .iter()
            .filter_map(|(name, port)| Some((name.clone(), u16::try_from(*port).ok()?)))
            .collect(),
        network: spec.network.clone(),
        locality: spec.locality.clone(),
        services: Vec::new(),
        policies: WorkloadPolicies::default(),
    }
}

fn kubernetes_service(
    r: &ObjectRef,
    svc: &core::Service,
    workloads: &SelectableWorkloads<'_>,
    slices: &EndpointSliceIndex<'_>,
) -> Service {
    let spec = svc.spec.clone().unwrap_or_default();
    let ports: Vec<ServicePort> = spec
        .ports
        .unwrap_or_default()
        .iter()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .filter_map(|p| {
            let port = u16::try_from(p.port).ok()?;
            let target_port = match &p.target_port {
                Some(IntOrString::Int(n)) => TargetPort::Number(u16::try_from(*n).ok()?),
                Some(IntOrString::String(name)) => TargetPort::Name(name.clone()),
                None => TargetPort::Number(port),
            };
            let protocol = Protocol::for_port(p.name.as_deref(), p.app_protocol.as_deref());
            Some(ServicePort {
                name: p.name.clone(),
                port,
                target_port,
                protocol,
                protocol_explicit: protocol != Protocol::Unknown,
            })
        })
        .collect();
    // Kubernetes gives a Service without a selector no endpoints of its own.
    let mut endpoints: Vec<_> = match spec.selector.as_ref().filter(|s| !s.is_empty()) {
        Some(selector) => workloads
            .selected(&r.namespace, selector)
            .filter_map(|(w, wl)| workload_endpoint(w, wl, &ports))
            .collect(),
        None => Vec::new(),
    };
    // The selected WorkloadEntries first, then the EndpointSlices' endpoints (the
    // incremental update relies on this order).
    endpoints.extend(slices.endpoints(&r.namespace, &r.name, &ports));
    let addresses = spec
        .cluster_ips
        .filter(|ips| !ips.is_empty())
        .or_else(|| spec.cluster_ip.map(|ip| vec![ip]))
        .unwrap_or_default()
        .into_iter()
        .filter(|ip| !ip.is_empty() && ip != "None")
        .collect();
    Service {
        hostname: service_fqdn(&r.name, &r.namespace),
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        origin: ServiceOrigin::Kubernetes,
        addresses,
        ports,
        endpoints,
        resolution: Resolution::Static,
        mesh_internal: true,
        export_to: export_to(svc.metadata.annotations.as_ref()),
        policies: ServicePolicies::default(),
    }
}

/// Istio's `networking.istio.io/exportTo` annotation on Services.
fn export_to(annotations: Option<&BTreeMap<String, String>>) -> Vec<String> {
    annotations
        .and_then(|a| a.get("networking.istio.io/exportTo"))
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// One service per host of the entry, as Istio does.
fn service_entry_services(
    r: &ObjectRef,
    se: &ServiceEntry,
    workloads: &SelectableWorkloads<'_>,
) -> Vec<Service> {
    let spec = &se.spec;
    let ports: Vec<ServicePort> = spec
        .ports
        .iter()
        .filter_map(|p| {
            let port = u16::try_from(p.number?).ok()?;
            let protocol = p
                .protocol
                .as_deref()
                .and_then(Protocol::parse)
                .unwrap_or(Protocol::Unknown);
            let target = p
                .target_port
                .and_then(|t| u16::try_from(t).ok())
                .filter(|t| *t != 0);
            Some(ServicePort {
                name: p.name.clone(),
                port,
                target_port: TargetPort::Number(target.unwrap_or(port)),
                protocol,
                protocol_explicit: protocol != Protocol::Unknown,
            })
        })
        .collect();
    let endpoints: Vec<_> = match &spec.workload_selector {
        Some(selector) => workloads
            .selected(&r.namespace, &selector.labels)
            .filter_map(|(w, wl)| workload_endpoint(w, wl, &ports))
            .collect(),
        None => spec
            .endpoints
            .iter()
            .filter_map(|ep| inline_endpoint(ep, &ports))
            .collect(),
    };
    let resolution = match spec.resolution {
        Some(ServiceEntryResolution::Dns)
        | Some(ServiceEntryResolution::DnsRoundRobin)
        | Some(ServiceEntryResolution::DynamicDns) => Resolution::Dns,
        Some(ServiceEntryResolution::Static) => Resolution::Static,
        Some(ServiceEntryResolution::None) | None => Resolution::Passthrough,
    };
    spec.hosts
        .iter()
        .map(|host| Service {
            hostname: resolve_short_name(host, &r.namespace),
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            origin: ServiceOrigin::ServiceEntry(r.clone()),
            addresses: spec.addresses.clone(),
            ports: ports.clone(),
            endpoints: endpoints.clone(),
            resolution,
            mesh_internal: spec.location == Some(ServiceEntryLocation::MeshInternal),
            export_to: spec.export_to.clone(),
            policies: ServicePolicies::default(),
        })
        .collect()
}

fn link_workloads_to_services(model: &mut MeshModel) {
    for service in model.services.values() {
        for workload in service.endpoints.iter().filter_map(|e| e.workload.as_ref()) {
            // A dual-stack pod is two endpoints of one service.
            if let Some(w) = model.workloads.get_mut(workload)
                && w.services.last() != Some(&service.hostname)
            {
                w.services.push(service.hostname.clone());
            }
        }
    }
}
