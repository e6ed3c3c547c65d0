//! PeerAuthentication resolution: the mutual TLS mode each inbound port of a workload
//! gets from the policies that select it, with Istio's precedence
//! (`ComposePeerAuthentication`):
//!
//! - one policy per scope counts: the mesh's (root namespace, no selector), the
//!   namespace's (no selector), the workload's (a selector, not in the root
//!   namespace); when several tie at one scope, the oldest (creationTimestamp, then
//!   name) wins;
//! - the narrowest scope that sets a mode wins; UNSET (or no `mtls`) inherits from
//!   the scope above, PERMISSIVE at the top;
//! - `portLevelMtls` counts only on the workload's policy, keyed by the workload's
//!   (target) port; an UNSET port inherits the workload's mode.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{MeshModel, Workload};
use crate::object::{Kind, MeshObject, ObjectRef};
use crate::security::{MtlsMode, PeerAuthentication, PeerAuthenticationMtls};

/// The mutual TLS a workload accepts: a mode for the workload and overrides for some
/// of its ports. No mode here is [`MtlsMode::Unset`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtlsPolicy {
    pub mode: MtlsMode,
    /// Workload (target) port → its mode, from the workload policy's `portLevelMtls`.
    pub ports: BTreeMap<u16, MtlsMode>,
}

/// The policy chosen at one scope, with what decides ties (older first).
struct Chosen<'a> {
    created: Option<&'a Time>,
    name: &'a str,
    policy: &'a PeerAuthentication,
}

impl Default for MtlsPolicy {
    fn default() -> Self {
        MtlsPolicy {
            mode: MtlsMode::ISTIO_DEFAULT,
            ports: BTreeMap::new(),
        }
    }
}

impl MtlsPolicy {
    /// The mode of one workload port.
    pub fn port_mode(&self, port: u16) -> MtlsMode {
        self.ports.get(&port).copied().unwrap_or(self.mode)
    }

    /// Whether any port accepts mutual TLS (so that connections must be inspected).
    pub fn any_tls(&self) -> bool {
        self.mode != MtlsMode::Disable || self.ports.values().any(|m| *m != MtlsMode::Disable)
    }
}

/// Istio's composition of the PeerAuthentications that apply to one workload (in any
/// order; policies of other namespaces than the workload's and the root are the
/// caller's to leave out).
pub fn compose_peer_authentications<'a>(
    root_namespace: &str,
    policies: impl IntoIterator<Item = (&'a ObjectRef, &'a PeerAuthentication)>,
) -> MtlsPolicy {
    let mut mesh: Option<Chosen<'a>> = None;
    let mut namespace: Option<Chosen<'a>> = None;
    let mut workload: Option<Chosen<'a>> = None;
    for (r, policy) in policies {
        let has_selector = policy
            .spec
            .selector
            .as_ref()
            .is_some_and(|s| !s.match_labels.is_empty());
        let slot = match (has_selector, r.namespace == root_namespace) {
            (false, true) => &mut mesh,
            (false, false) => &mut namespace,
            (true, false) => &mut workload,
            // Istio ignores selector policies in the root namespace.
            (true, true) => continue,
        };
        let candidate = Chosen {
            created: policy.metadata.creation_timestamp.as_ref(),
            name: &r.name,
            policy,
        };
        // An object without a timestamp (universal mode) counts as the oldest, as
        // Istio's zero time does.
        let older = slot
            .as_ref()
            .is_none_or(|c| (candidate.created, candidate.name) < (c.created, c.name));
        if older {
            *slot = Some(candidate);
        }
    }
    let mut out = MtlsPolicy::default();
    for chosen in [&mesh, &namespace, &workload].into_iter().flatten() {
        if let Some(mode) = set_mode(chosen.policy.spec.mtls.as_ref()) {
            out.mode = mode;
        }
    }
    if let Some(chosen) = &workload {
        for (port, mtls) in &chosen.policy.spec.port_level_mtls {
            let Ok(port) = u16::try_from(*port) else {
                continue;
            };
            out.ports
                .insert(port, set_mode(Some(mtls)).unwrap_or(out.mode));
        }
    }
    out
}

/// The mode `mtls` sets, `None` when it inherits.
fn set_mode(mtls: Option<&PeerAuthenticationMtls>) -> Option<MtlsMode> {
    mtls.and_then(|m| m.mode).filter(|m| *m != MtlsMode::Unset)
}

impl MeshModel {
    /// The mutual TLS `workload` accepts, from the PeerAuthentications the model
    /// attached to it.
    pub fn workload_mtls(&self, workload: &Workload) -> MtlsPolicy {
        let policies = workload
            .policies
            .peer_authentications
            .iter()
            .filter_map(|r| match self.objects.get_key_value(r) {
                Some((r, o)) => match o.as_ref() {
                    MeshObject::PeerAuthentication(p) => Some((r, p.as_ref())),
                    _ => None,
                },
                None => None,
            });
        compose_peer_authentications(&self.settings.root_namespace, policies)
    }

    /// The mutual TLS of a workload of `namespace` with `labels` that the model may not
    /// know (a proxy whose WorkloadEntry is missing): the policies of the namespace and
    /// the mesh that select it.
    pub fn mtls_for(&self, namespace: &str, labels: &BTreeMap<String, String>) -> MtlsPolicy {
        self.compose_in(namespace, |p| {
            p.spec.selector.as_ref().is_none_or(|s| s.selects(labels))
        })
    }

    /// The policies of `namespace` and the mesh that `applies` keeps, composed.
    fn compose_in(
        &self,
        namespace: &str,
        applies: impl Fn(&PeerAuthentication) -> bool,
    ) -> MtlsPolicy {
        let root = self.settings.root_namespace.as_str();
        let mut namespaces = vec![namespace];
        if namespace != root {
            namespaces.push(root);
        }
        let policies: Vec<(&ObjectRef, &PeerAuthentication)> = namespaces
            .into_iter()
            .flat_map(|ns| self.peer_authentications_in(ns))
            .filter(|(_, p)| applies(p))
            .collect();
        compose_peer_authentications(root, policies)
    }

    /// The PeerAuthentications of one namespace, in name order.
    fn peer_authentications_in<'m>(
        &'m self,
        namespace: &str,
    ) -> impl Iterator<Item = (&'m ObjectRef, &'m PeerAuthentication)> + 'm {
        let first = ObjectRef {
            kind: Kind::PeerAuthentication,
            namespace: namespace.to_string(),
            name: String::new(),
        };
        let namespace = namespace.to_string();
        self.objects
            .range(first..)
            .take_while(move |(r, _)| {
                r.kind == Kind::PeerAuthentication && r.namespace == namespace
            })
            .filter_map(|(r, o)| match o.as_ref() {
                MeshObject::PeerAuthentication(p) => Some((r, p.as_ref())),
                _ => None,
            })
    }

    /// The mode of `namespace` as a whole: its selector-less policy, else the mesh's.
    /// Istio's hint for clients' auto mTLS towards services there (workload and port
    /// policies are not looked at: a service does not know its workloads' policies).
    pub fn namespace_mtls_mode(&self, namespace: &str) -> MtlsMode {
        self.compose_in(namespace, |p| {
            p.spec
                .selector
                .as_ref()
                .is_none_or(|s| s.match_labels.is_empty())
        })
        .mode
    }
}

#[cfg(test)]
mod tests;
