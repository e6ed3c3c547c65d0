//! Attaches config to what it applies to: VirtualServices and DestinationRules to
//! services, security policies to workloads.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::endpoints::selects;
use super::hostname::host_matches;
use super::{MeshModel, Service, ServicePolicies, Workload, WorkloadPolicies};
use crate::object::{Kind, MeshObject, ObjectRef};
use crate::selector::WorkloadSelector;

/// The gateway name that binds a VirtualService to sidecars.
pub const MESH_GATEWAY: &str = "mesh";

pub(super) fn attach(model: &mut MeshModel) {
    attach_service_policies(model);
    let workloads: Vec<ObjectRef> = model.workloads.keys().cloned().collect();
    attach_workload_policies(model, &workloads);
}

/// Sets every service's VirtualServices, DestinationRules and subsets. Services whose
/// policies stay the same are not written to: the model's maps are shared with the
/// previous version, and a write copies.
pub(super) fn attach_service_policies(model: &mut MeshModel) {
    let mut per_service: BTreeMap<String, Attached> = BTreeMap::new();
    for (r, object) in &model.objects {
        match object.as_ref() {
            MeshObject::VirtualService(vs) if binds_to_mesh(&vs.spec.gateways) => {
                for host in &vs.spec.hosts {
                    let pattern = model.resolve_host(host, &r.namespace);
                    for service in covered(model, &pattern) {
                        let entry = per_service.entry(service.hostname.clone()).or_default();
                        if !entry.virtual_services.contains(r) {
                            entry.virtual_services.push(r.clone());
                        }
                    }
                }
            }
            MeshObject::DestinationRule(dr) => {
                let Some(host) = dr.spec.host.as_deref() else {
                    continue;
                };
                let pattern = model.resolve_host(host, &r.namespace);
                for service in covered(model, &pattern) {
                    let rank = DrRank {
                        wildcard: pattern.starts_with('*'),
                        namespace: namespace_rank(
                            &r.namespace,
                            service,
                            &model.settings.root_namespace,
                        ),
                        // Longer patterns are more specific.
                        specificity: Reverse(pattern.len()),
                    };
                    per_service
                        .entry(service.hostname.clone())
                        .or_default()
                        .destination_rules
                        .push((rank, r.clone()));
                }
            }
            _ => {}
        }
    }
    let hostnames: Vec<String> = model.services.keys().cloned().collect();
    for hostname in hostnames {
        let Attached {
            virtual_services,
            destination_rules: mut rules,
        } = per_service.remove(&hostname).unwrap_or_default();
        rules.sort();
        let subsets = rules
            .first()
            .and_then(|(_, r)| match model.object(r) {
                Some(MeshObject::DestinationRule(dr)) => Some(
                    dr.spec
                        .subsets
                        .iter()
                        .filter_map(|s| s.name.clone())
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default();
        let policies = ServicePolicies {
            virtual_services,
            destination_rules: rules.into_iter().map(|(_, r)| r).collect(),
            subsets,
        };
        if model.services.get(&hostname).map(|s| &s.policies) != Some(&policies)
            && let Some(service) = model.services.get_mut(&hostname)
        {
            service.policies = policies;
        }
    }
}

/// Config found for one service while walking the objects.
#[derive(Debug, Default)]
struct Attached {
    virtual_services: Vec<ObjectRef>,
    destination_rules: Vec<(DrRank, ObjectRef)>,
}

/// Istio's DestinationRule precedence for one service, smaller first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DrRank {
    wildcard: bool,
    namespace: u8,
    specificity: Reverse<usize>,
}

fn namespace_rank(dr_namespace: &str, service: &Service, root: &str) -> u8 {
    if dr_namespace == service.namespace {
        0
    } else if dr_namespace == root {
        1
    } else {
        2
    }
}

/// Whether a VirtualService with these `gateways` applies to sidecars.
pub fn binds_to_mesh(gateways: &[String]) -> bool {
    gateways.is_empty() || gateways.iter().any(|g| g == MESH_GATEWAY)
}

fn covered<'m>(model: &'m MeshModel, pattern: &str) -> Vec<&'m Service> {
    if pattern.contains('*') {
        model
            .services
            .values()
            .filter(|s| host_matches(pattern, &s.hostname))
            .collect()
    } else {
        model.services.get(pattern).into_iter().collect()
    }
}

/// A policy's scope: the whole mesh, one namespace, or the workloads its selector picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Mesh,
    Namespace,
    Workload,
}

/// Sets the security policies of `workloads`.
pub(super) fn attach_workload_policies(model: &mut MeshModel, workloads: &[ObjectRef]) {
    for r in workloads {
        let Some(policies) = model
            .workloads
            .get(r)
            .map(|w| workload_policies(model, r, w))
        else {
            continue;
        };
        if let Some(workload) = model.workloads.get_mut(r) {
            workload.policies = policies;
        }
    }
}

/// The security policies that select one workload, in the order Istio layers them.
fn workload_policies(model: &MeshModel, w: &ObjectRef, workload: &Workload) -> WorkloadPolicies {
    let root = model.settings.root_namespace.as_str();
    let mut selecting: Vec<(Scope, &ObjectRef)> = Vec::new();
    // The security kinds sort last: start at the first of them.
    let first = ObjectRef {
        kind: Kind::PeerAuthentication,
        namespace: String::new(),
        name: String::new(),
    };
    for (r, object) in model.objects.range(first..) {
        let (selector, targeted) = match object.as_ref() {
            MeshObject::PeerAuthentication(p) => (p.spec.selector.as_ref(), false),
            MeshObject::AuthorizationPolicy(p) => (
                p.spec.selector.as_ref(),
                p.spec.target_ref.is_some() || !p.spec.target_refs.is_empty(),
            ),
            MeshObject::RequestAuthentication(p) => (
                p.spec.selector.as_ref(),
                p.spec.target_ref.is_some() || !p.spec.target_refs.is_empty(),
            ),
            _ => continue,
        };
        // Policies bound by targetRef apply to gateways and waypoints, not sidecars.
        if targeted {
            continue;
        }
        let scope = policy_scope(r, selector, root);
        let applies = match scope {
            Scope::Mesh => true,
            Scope::Namespace => w.namespace == r.namespace,
            Scope::Workload => selector.is_some_and(|s| {
                policy_selects(
                    &r.namespace,
                    &s.match_labels,
                    root,
                    &w.namespace,
                    &workload.labels,
                )
            }),
        };
        if applies {
            selecting.push((scope, r));
        }
    }
    selecting.sort();
    let mut policies = WorkloadPolicies::default();
    for (_, policy) in selecting {
        let list = match policy.kind {
            Kind::PeerAuthentication => &mut policies.peer_authentications,
            Kind::AuthorizationPolicy => &mut policies.authorization_policies,
            _ => &mut policies.request_authentications,
        };
        list.push(policy.clone());
    }
    policies
}

fn policy_scope(r: &ObjectRef, selector: Option<&WorkloadSelector>, root: &str) -> Scope {
    match selector.filter(|s| !s.match_labels.is_empty()) {
        Some(_) => Scope::Workload,
        None if r.namespace == root => Scope::Mesh,
        None => Scope::Namespace,
    }
}

/// Whether a policy in `policy_namespace` with a label selector selects a workload:
/// the workload is in the policy's namespace (any namespace, for the root namespace)
/// and carries every selector label.
pub fn policy_selects(
    policy_namespace: &str,
    selector: &BTreeMap<String, String>,
    root: &str,
    workload_namespace: &str,
    labels: &BTreeMap<String, String>,
) -> bool {
    let in_scope = policy_namespace == root || policy_namespace == workload_namespace;
    in_scope && selects(selector, labels)
}
