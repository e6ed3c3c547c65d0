//! Updating the model in place for Pods and EndpointSlices: the endpoints of the
//! Kubernetes Services their slices belong to and of the ServiceEntries that select
//! the pods, and the pods' workloads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::super::delta::{ModelDelta, Reach};
use super::super::endpoint_slices::{
    EndpointSliceIndex, of_kind, slice_lists_pod, slice_service, slices_in,
};
use super::super::endpoints::{selects, workload_endpoint};
use super::super::hostname::service_fqdn;
use super::super::pods::pod_workload;
use super::super::{Endpoint, MeshModel, Service, ServiceOrigin, policies};
use crate::object::{Kind, MeshObject, ObjectRef};

impl MeshModel {
    /// Applies changes of Pods and EndpointSlices (only those kinds).
    pub(super) fn update_kubernetes_endpoints(
        &self,
        changes: &[(&ObjectRef, Option<&Arc<MeshObject>>)],
    ) -> (MeshModel, ModelDelta) {
        let mut model = self.clone();
        let mut delta = ModelDelta::default();
        // Services (by hostname) whose endpoints may have changed.
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut changed_pods: Vec<&ObjectRef> = Vec::new();
        for (r, new) in changes {
            model.set_object(r, *new);
            match r.kind {
                Kind::EndpointSlice => {
                    for object in self.objects.get(*r).into_iter().chain(*new) {
                        if let MeshObject::EndpointSlice(slice) = object.as_ref()
                            && let Some(service) = slice_service(slice)
                        {
                            touched.insert(service_fqdn(service, &r.namespace));
                        }
                    }
                }
                Kind::Pod => {
                    let old = self.workloads.get(*r);
                    let mut workload = match new.map(|o| o.as_ref()) {
                        Some(MeshObject::Pod(pod)) => pod_workload(r, pod),
                        _ => None,
                    };
                    // Its services and policies are derived: the rest decides.
                    if let (Some(old), Some(w)) = (old, workload.as_mut()) {
                        w.services = old.services.clone();
                        w.policies = old.policies.clone();
                    }
                    if old == workload.as_ref() {
                        continue;
                    }
                    match workload {
                        Some(w) => model.workloads.insert((*r).clone(), w),
                        None => model.workloads.remove(*r),
                    };
                    changed_pods.push(r);
                }
                _ => {}
            }
        }
        // A changed pod changes the endpoints of the services whose slices list it,
        // by name or by its old or new address, and of the ServiceEntries whose
        // workloadSelector selects it, before or after.
        for r in &changed_pods {
            let old = self.workloads.get(*r);
            let new = model.workloads.get(*r);
            touched.extend(old.iter().flat_map(|w| w.services.iter().cloned()));
            let addresses: Vec<&str> = old
                .into_iter()
                .chain(new)
                .map(|w| w.address.as_str())
                .collect();
            for slice in slices_in(&model.objects, &r.namespace) {
                if let Some(service) = slice_service(slice)
                    && slice_lists_pod(slice, &r.name, &addresses)
                {
                    touched.insert(service_fqdn(service, &r.namespace));
                }
            }
            let labels = old.into_iter().chain(new).map(|w| &w.labels);
            let selecting = model.selecting_services(&r.namespace, labels);
            touched.extend(selecting.into_iter().map(|(h, _)| h).filter(|h| {
                model
                    .services
                    .get(h)
                    .is_some_and(|s| matches!(s.origin, ServiceOrigin::ServiceEntry(_)))
            }));
        }
        let changed_services = model.recompute_endpoints(&touched, &mut delta);

        // Pods whose list of services may differ: the changed ones and those behind
        // the endpoints, old or new, of the services that changed.
        let mut pods: BTreeSet<ObjectRef> = changed_pods.iter().map(|r| (*r).clone()).collect();
        for (old, new) in changed_services.values() {
            pods.extend(
                old.iter()
                    .chain(new)
                    .filter_map(|e| e.workload.clone())
                    .filter(|w| w.kind == Kind::Pod),
            );
        }
        for r in &pods {
            let Some(workload) = model.workloads.get(r) else {
                if self.workloads.contains_key(r) {
                    delta.workloads.insert(r.clone());
                }
                continue;
            };
            let mut services: Vec<String> = workload
                .services
                .iter()
                .filter(|h| !changed_services.contains_key(*h))
                .cloned()
                .collect();
            services.extend(
                changed_services
                    .iter()
                    .filter(|(_, (_, new))| new.iter().any(|e| e.workload.as_ref() == Some(r)))
                    .map(|(h, _)| h.clone()),
            );
            services.sort();
            let is_changed = changed_pods.contains(&r);
            if services != workload.services || is_changed {
                delta.workloads.insert(r.clone());
            }
            if let Some(w) = model.workloads.get_mut(r) {
                w.services = services;
            }
        }
        let attach: Vec<ObjectRef> = changed_pods
            .iter()
            .filter(|r| model.workloads.contains_key(**r))
            .map(|r| (*r).clone())
            .collect();
        policies::attach_workload_policies(&mut model, &attach);
        (model, delta)
    }

    /// Rebuilds the endpoints that Pods and EndpointSlices give `hostnames`: of a
    /// Kubernetes Service, the slice part (the selected WorkloadEntries before it
    /// stay); of a ServiceEntry with a workloadSelector, the selected workloads.
    /// Returns the services whose endpoints changed, with their old and new endpoints.
    fn recompute_endpoints(
        &mut self,
        hostnames: &BTreeSet<String>,
        delta: &mut ModelDelta,
    ) -> BTreeMap<String, (Vec<Endpoint>, Vec<Endpoint>)> {
        let namespaces: BTreeSet<&str> = hostnames
            .iter()
            .filter_map(|h| self.services.get(h))
            .map(|s| s.namespace.as_str())
            .collect();
        let namespaces: Vec<&str> = namespaces.into_iter().collect();
        let index = EndpointSliceIndex::new(&self.objects, &self.workloads, Some(&namespaces));
        let mut changed = BTreeMap::new();
        for hostname in hostnames {
            let Some(service) = self.services.get(hostname) else {
                continue;
            };
            let endpoints = match &service.origin {
                ServiceOrigin::Kubernetes => {
                    let mut endpoints: Vec<Endpoint> = service
                        .endpoints
                        .iter()
                        .filter(|e| {
                            e.workload
                                .as_ref()
                                .is_some_and(|w| w.kind == Kind::WorkloadEntry)
                        })
                        .cloned()
                        .collect();
                    endpoints.extend(index.endpoints(
                        &service.namespace,
                        &service.name,
                        &service.ports,
                    ));
                    endpoints
                }
                ServiceOrigin::ServiceEntry(entry) => {
                    let selector = match self.objects.get(entry).map(|o| o.as_ref()) {
                        Some(MeshObject::ServiceEntry(se)) => se.spec.workload_selector.as_ref(),
                        _ => None,
                    };
                    let Some(selector) = selector else {
                        continue;
                    };
                    self.selected_workload_endpoints(service, &selector.labels)
                }
            };
            if endpoints == service.endpoints {
                continue;
            }
            // Clients verify a service's peers against its service accounts (the
            // SANs of its clusters): when that set changes, more than EDS does.
            if accounts(&service.endpoints) != accounts(&endpoints) {
                delta.add_reach(Reach::All);
            }
            delta.endpoints.insert(hostname.clone());
            changed.insert(hostname.clone(), (service.endpoints.clone(), endpoints));
        }
        for (hostname, (_, endpoints)) in &changed {
            if let Some(service) = self.services.get_mut(hostname) {
                service.endpoints = endpoints.clone();
            }
        }
        changed
    }
}

impl MeshModel {
    /// The endpoints of the workloads (WorkloadEntries, then Pods) of `service`'s
    /// namespace that `selector` selects, in reference order as `build` makes them.
    fn selected_workload_endpoints(
        &self,
        service: &Service,
        selector: &BTreeMap<String, String>,
    ) -> Vec<Endpoint> {
        let namespace = service.namespace.as_str();
        [Kind::WorkloadEntry, Kind::Pod]
            .into_iter()
            .flat_map(|kind| of_kind(&self.workloads, kind, Some(namespace)))
            .filter(|(_, w)| selects(selector, &w.labels))
            .filter_map(|(r, w)| workload_endpoint(r, w, &service.ports))
            .collect()
    }
}

/// The service accounts endpoints run as (the identities clients verify).
fn accounts(endpoints: &[Endpoint]) -> BTreeSet<&str> {
    endpoints
        .iter()
        .filter_map(|e| e.service_account.as_deref())
        .filter(|a| !a.is_empty())
        .collect()
}
