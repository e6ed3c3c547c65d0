//! Updating the model with a batch of object changes, doing the work that the kinds
//! of the changed objects call for, and saying what changed ([`ModelDelta`]):
//!
//! - WorkloadEntries, Pods and EndpointSlices only (pods coming and going, the
//!   common case): the workloads and the endpoints of the services that select
//!   them or whose slices list them, in place;
//! - Namespaces only: nothing but the objects (the model does not read them);
//! - routing objects only (VirtualServices, DestinationRules, Sidecars): which
//!   services they attach to, and which namespaces see them;
//! - anything else: the model is built again from every object.
//!
//! Whichever way, the result equals [`MeshModel::build`] of the same objects (a
//! test checks it over random sequences of changes).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::delta::{ModelDelta, Reach};
use super::endpoints::{selects, workload_endpoint};
use super::hostname::{resolve_short_name, service_fqdn};
use super::{MeshModel, ServiceOrigin, index, policies};
use crate::object::{Kind, MeshObject, ObjectRef};

mod kubernetes_endpoints;

/// One object added or changed (`Some`), or deleted (`None`).
#[derive(Debug, Clone)]
pub struct ObjectChange {
    pub object_ref: ObjectRef,
    pub object: Option<Arc<MeshObject>>,
}

impl MeshModel {
    /// The model with `changes` applied, and what that changed. Changes that leave an
    /// object as it was are no changes; a later change of a reference replaces an
    /// earlier one in the same batch.
    pub fn update(&self, changes: &[ObjectChange]) -> (MeshModel, ModelDelta) {
        let mut latest: std::collections::BTreeMap<&ObjectRef, Option<&Arc<MeshObject>>> =
            std::collections::BTreeMap::new();
        for change in changes {
            latest.insert(&change.object_ref, change.object.as_ref());
        }
        let changes: Vec<(&ObjectRef, Option<&Arc<MeshObject>>)> = latest
            .into_iter()
            .filter(|(r, new)| self.objects.get(*r).map(|o| o.as_ref()) != new.map(|o| o.as_ref()))
            .collect();
        if changes.is_empty() {
            return (self.clone(), ModelDelta::default());
        }
        if changes.iter().all(|(r, _)| is_endpoint(r.kind)) {
            return self.update_endpoints(&changes);
        }
        if changes.iter().all(|(r, _)| is_routing(r.kind)) {
            return self.update_routing(&changes);
        }
        let mut objects = self.objects.clone();
        for (r, new) in &changes {
            match new {
                Some(object) => objects.insert((*r).clone(), (*object).clone()),
                None => objects.remove(*r),
            };
        }
        let model = MeshModel::build(objects.values().cloned(), self.settings.clone());
        (model, ModelDelta::full())
    }

    /// Applies changes of WorkloadEntries, Pods, EndpointSlices and Namespaces.
    fn update_endpoints(
        &self,
        changes: &[(&ObjectRef, Option<&Arc<MeshObject>>)],
    ) -> (MeshModel, ModelDelta) {
        let of = |kinds: &[Kind]| -> Vec<(&ObjectRef, Option<&Arc<MeshObject>>)> {
            changes
                .iter()
                .filter(|(r, _)| kinds.contains(&r.kind))
                .copied()
                .collect()
        };
        let entries = of(&[Kind::WorkloadEntry]);
        let kubernetes = of(&[Kind::Pod, Kind::EndpointSlice]);
        let (mut model, mut delta) = if entries.is_empty() {
            (self.clone(), ModelDelta::default())
        } else {
            self.update_workloads(&entries)
        };
        // WorkloadEntries and slice endpoints are separate parts of a service's
        // endpoints, and selection never picks a Pod: the two updates compose.
        if !kubernetes.is_empty() {
            let (updated, more) = model.update_kubernetes_endpoints(&kubernetes);
            model = updated;
            delta.merge(&more);
        }
        for (r, new) in of(&[Kind::Namespace]) {
            model.set_object(r, new);
        }
        (model, delta)
    }

    fn update_workloads(
        &self,
        changes: &[(&ObjectRef, Option<&Arc<MeshObject>>)],
    ) -> (MeshModel, ModelDelta) {
        let mut model = self.clone();
        let mut delta = ModelDelta::default();
        for (r, new) in changes {
            let old_labels = model.workloads.get(*r).map(|w| w.labels.clone());
            let workload = match new.map(|o| o.as_ref()) {
                Some(MeshObject::WorkloadEntry(we)) => Some(index::workload(r, we)),
                _ => None,
            };
            model.set_object(r, *new);
            match &workload {
                Some(w) => model.workloads.insert((*r).clone(), w.clone()),
                None => model.workloads.remove(*r),
            };
            let labels = old_labels
                .iter()
                .chain(workload.as_ref().map(|w| &w.labels));
            for (hostname, selector) in model.selecting_services(&r.namespace, labels) {
                let Some(service) = model.services.get(&hostname) else {
                    continue;
                };
                let endpoint = workload
                    .as_ref()
                    .filter(|w| selects(&selector, &w.labels))
                    .and_then(|w| workload_endpoint(r, w, &service.ports));
                let current = service
                    .endpoints
                    .iter()
                    .position(|e| e.workload.as_ref() == Some(*r));
                if current.map(|i| &service.endpoints[i]) == endpoint.as_ref() {
                    continue;
                }
                let Some(service) = model.services.get_mut(&hostname) else {
                    continue;
                };
                let old_account =
                    current.and_then(|i| service.endpoints[i].service_account.clone());
                let new_account = endpoint.as_ref().and_then(|e| e.service_account.clone());
                if let Some(i) = current {
                    service.endpoints.remove(i);
                }
                let held_by_others = |s: &super::Service, account: &Option<String>| {
                    account.is_none() || s.endpoints.iter().any(|e| &e.service_account == account)
                };
                // Clients verify a service's peers against its service accounts (the
                // SANs of its clusters): when that set changes, more than EDS does.
                if old_account != new_account
                    && !(held_by_others(service, &old_account)
                        && held_by_others(service, &new_account))
                {
                    delta.add_reach(Reach::All);
                }
                if let Some(endpoint) = endpoint {
                    // Selected endpoints are in workload order, as `build` makes them,
                    // before those of EndpointSlices.
                    let at = service.endpoints.partition_point(|e| {
                        e.workload
                            .as_ref()
                            .is_some_and(|w| w.kind == Kind::WorkloadEntry && w < *r)
                    });
                    service.endpoints.insert(at, endpoint);
                }
                delta.endpoints.insert(hostname);
            }
            delta.workloads.insert((*r).clone());
        }
        let changed: Vec<ObjectRef> = delta.workloads.iter().cloned().collect();
        for r in &changed {
            let Some(labels) = model.workloads.get(r).map(|w| w.labels.clone()) else {
                continue;
            };
            let services: Vec<String> = model
                .selecting_services(&r.namespace, [&labels])
                .into_iter()
                .filter(|(hostname, _)| {
                    model
                        .services
                        .get(hostname)
                        .is_some_and(|s| s.endpoints.iter().any(|e| e.workload.as_ref() == Some(r)))
                })
                .map(|(hostname, _)| hostname)
                .collect();
            if let Some(w) = model.workloads.get_mut(r) {
                w.services = services;
            }
        }
        policies::attach_workload_policies(&mut model, &changed);
        (model, delta)
    }

    fn update_routing(
        &self,
        changes: &[(&ObjectRef, Option<&Arc<MeshObject>>)],
    ) -> (MeshModel, ModelDelta) {
        let mut model = self.clone();
        let mut delta = ModelDelta::default();
        for (r, new) in changes {
            let old = self.objects.get(*r);
            for object in old.into_iter().chain(*new) {
                delta.add_reach(routing_reach(r, object, &self.settings.root_namespace));
            }
            model.set_object(r, *new);
        }
        policies::attach_service_policies(&mut model);
        (model, delta)
    }

    /// Puts `object` in place of `r` (or removes it), keeping `namespaces` current.
    fn set_object(&mut self, r: &ObjectRef, object: Option<&Arc<MeshObject>>) {
        match object {
            Some(object) => {
                self.objects.insert(r.clone(), object.clone());
                if !r.kind.is_cluster_scoped() {
                    self.namespaces.insert(r.namespace.clone());
                }
            }
            None => {
                self.objects.remove(r);
                if !r.kind.is_cluster_scoped() && !self.namespace_in_use(&r.namespace) {
                    self.namespaces.remove(&r.namespace);
                }
            }
        }
    }

    fn namespace_in_use(&self, namespace: &str) -> bool {
        Kind::ALL.iter().any(|kind| {
            let first = ObjectRef {
                kind: *kind,
                namespace: namespace.to_string(),
                name: String::new(),
            };
            self.objects
                .range(first..)
                .next()
                .is_some_and(|(r, _)| r.kind == *kind && r.namespace == namespace)
        })
    }

    /// The services of `namespace` whose selector selects any of `labels`: hostname
    /// and selector, in hostname order. Kubernetes Services by `spec.selector`,
    /// ServiceEntries by `workloadSelector` (those of their hosts they own).
    fn selecting_services<'l>(
        &self,
        namespace: &str,
        labels: impl IntoIterator<Item = &'l std::collections::BTreeMap<String, String>> + Clone,
    ) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
        let selects_any = |selector: &std::collections::BTreeMap<String, String>| {
            labels.clone().into_iter().any(|l| selects(selector, l))
        };
        let mut found = std::collections::BTreeMap::new();
        for kind in [Kind::Service, Kind::ServiceEntry] {
            let first = ObjectRef {
                kind,
                namespace: namespace.to_string(),
                name: String::new(),
            };
            let in_namespace = self
                .objects
                .range(first..)
                .take_while(|(r, _)| r.kind == kind && r.namespace == namespace);
            for (r, object) in in_namespace {
                match object.as_ref() {
                    MeshObject::Service(svc) => {
                        let Some(selector) = svc
                            .spec
                            .as_ref()
                            .and_then(|s| s.selector.clone())
                            .filter(|s| !s.is_empty())
                        else {
                            continue;
                        };
                        let hostname = service_fqdn(&r.name, &r.namespace);
                        let owned = self
                            .services
                            .get(&hostname)
                            .is_some_and(|s| s.origin == ServiceOrigin::Kubernetes);
                        if owned && selects_any(&selector) {
                            found.insert(hostname, selector);
                        }
                    }
                    MeshObject::ServiceEntry(se) => {
                        let Some(selector) = &se.spec.workload_selector else {
                            continue;
                        };
                        if !selects_any(&selector.labels) {
                            continue;
                        }
                        for host in &se.spec.hosts {
                            let hostname = resolve_short_name(host, &r.namespace);
                            let owned = self.services.get(&hostname).is_some_and(|s| {
                                s.origin == ServiceOrigin::ServiceEntry((*r).clone())
                            });
                            if owned {
                                found.insert(hostname, selector.labels.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        found.into_iter().collect()
    }
}

/// Kinds whose changes touch only endpoints and workloads (Namespaces: nothing the
/// model reads).
fn is_endpoint(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::WorkloadEntry | Kind::Pod | Kind::EndpointSlice | Kind::Namespace
    )
}

/// Kinds whose changes touch only what services route to: no service, endpoint or
/// workload comes or goes with them.
fn is_routing(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::VirtualService | Kind::DestinationRule | Kind::Sidecar
    )
}

/// The proxies that can see one version of a routing object: those of the
/// namespaces it is exported to (VirtualService, DestinationRule), or of its
/// namespace (a Sidecar, unless in the root namespace, where it is the mesh default).
fn routing_reach(r: &ObjectRef, object: &MeshObject, root_namespace: &str) -> Reach {
    let export_to = match object {
        MeshObject::VirtualService(vs) => &vs.spec.export_to,
        MeshObject::DestinationRule(dr) => &dr.spec.export_to,
        MeshObject::Sidecar(_) if r.namespace != root_namespace => {
            return Reach::Namespaces([r.namespace.clone()].into());
        }
        _ => return Reach::All,
    };
    if export_to.is_empty() || export_to.iter().any(|n| n == "*") {
        return Reach::All;
    }
    let namespaces: BTreeSet<String> = export_to
        .iter()
        .filter(|n| *n != "~")
        .map(|n| {
            if n == "." {
                r.namespace.clone()
            } else {
                n.clone()
            }
        })
        .collect();
    Reach::Namespaces(namespaces)
}

#[cfg(test)]
mod tests;
