//! Policies whose workload selector matches no workload: they have no effect.

use std::collections::BTreeMap;

use super::Context;
use super::message::{Message, codes};
use crate::model::policies::policy_selects;
use crate::object::{MeshObject, ObjectRef};

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let root = &cx.model.settings.root_namespace;
    for (r, object) in &cx.model.objects {
        let Some((selector, field)) = selector_of(object) else {
            continue;
        };
        if selector.is_empty() {
            continue;
        }
        let selects_any = cx
            .model
            .workloads
            .values()
            .any(|w| policy_selects(&r.namespace, selector, root, &w.namespace, &w.labels));
        if !selects_any {
            out.push(no_match(cx, r, selector, field));
        }
    }
}

fn selector_of(object: &MeshObject) -> Option<(&BTreeMap<String, String>, &'static str)> {
    match object {
        MeshObject::AuthorizationPolicy(p) => p
            .spec
            .selector
            .as_ref()
            .map(|s| (&s.match_labels, "spec.selector.matchLabels")),
        MeshObject::PeerAuthentication(p) => p
            .spec
            .selector
            .as_ref()
            .map(|s| (&s.match_labels, "spec.selector.matchLabels")),
        MeshObject::RequestAuthentication(p) => p
            .spec
            .selector
            .as_ref()
            .map(|s| (&s.match_labels, "spec.selector.matchLabels")),
        MeshObject::Sidecar(s) => s
            .spec
            .workload_selector
            .as_ref()
            .map(|s| (&s.labels, "spec.workloadSelector.labels")),
        _ => None,
    }
}

fn no_match(
    cx: &Context<'_>,
    r: &ObjectRef,
    selector: &BTreeMap<String, String>,
    field: &str,
) -> Message {
    let labels = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    cx.message(
        codes::NO_MATCHING_WORKLOADS_FOUND,
        r,
        field.to_string(),
        format!("No matching workloads for this resource with the following labels: {labels}"),
        format!(
            "label the intended workloads {labels} in namespace {:?}, or correct the selector",
            r.namespace
        ),
    )
}
