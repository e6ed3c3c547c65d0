//! PeerAuthentication conflicts: two policies at the same level for the same workloads,
//! where Istio silently uses the oldest.

use std::collections::BTreeMap;

use super::Context;
use super::message::{Message, codes};
use crate::model::policies::policy_selects;
use crate::object::{Kind, MeshObject, ObjectRef};

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let root = &cx.model.settings.root_namespace;
    // Selector-less policies: one mesh-wide (root namespace) and one per namespace.
    let mut wide: BTreeMap<&str, Vec<&ObjectRef>> = BTreeMap::new();
    let mut selecting: Vec<(&ObjectRef, &BTreeMap<String, String>)> = Vec::new();
    for (r, object) in cx.model.objects_of(Kind::PeerAuthentication) {
        let MeshObject::PeerAuthentication(pa) = object else {
            continue;
        };
        match pa
            .spec
            .selector
            .as_ref()
            .filter(|s| !s.match_labels.is_empty())
        {
            Some(selector) => selecting.push((r, &selector.match_labels)),
            None => wide.entry(r.namespace.as_str()).or_default().push(r),
        }
    }
    for (namespace, policies) in &wide {
        let scope = if namespace == root {
            "mesh-wide (root namespace, no selector)".to_string()
        } else {
            format!("namespace-wide for {namespace:?} (no selector)")
        };
        for (first, other) in policies.iter().zip(policies.iter().skip(1)) {
            out.push(cx.message(
                codes::CONFLICTING_PEER_AUTHENTICATIONS,
                other,
                None,
                format!("conflicts with {first}: both are {scope}; only one such PeerAuthentication takes effect (the oldest)"),
                format!("merge the two into one PeerAuthentication or delete {other}"),
            ));
        }
    }
    // Selecting policies conflict when both select the same workload.
    for (i, (a, a_labels)) in selecting.iter().enumerate() {
        for (b, b_labels) in selecting.iter().skip(i + 1) {
            if a.namespace != b.namespace {
                continue;
            }
            let shared = cx.model.workloads.iter().find(|(w, wl)| {
                policy_selects(&a.namespace, a_labels, root, &w.namespace, &wl.labels)
                    && policy_selects(&b.namespace, b_labels, root, &w.namespace, &wl.labels)
            });
            if let Some((w, _)) = shared {
                out.push(cx.message(
                    codes::CONFLICTING_PEER_AUTHENTICATIONS,
                    b,
                    Some("spec.selector".to_string()),
                    format!("conflicts with {a}: both select workload {}/{}; only one takes effect (the oldest)", w.namespace, w.name),
                    "narrow one selector so that each workload is selected by one PeerAuthentication",
                ));
            }
        }
    }
}
