//! Sidecar analyzers (Istio's `sidecar.SelectorAnalyzer`): a selector picks some
//! workload; no workload is picked by two Sidecars; a namespace has at most one
//! Sidecar without selector; Sidecars for ambient workloads have no effect.

use std::collections::BTreeMap;

use super::Context;
use super::codes;
use super::input::{Entry, InputKind, string_map};
use super::labels::{Labels, selector_string, selects};
use super::message::Message;
use super::workloads::{pod_in_ambient, pod_labels};
use crate::object::Kind;

/// Pods, Deployments (their pods) and WorkloadEntries: what a selector can pick.
pub(crate) fn selectable<'a>(cx: &Context<'a>) -> Vec<(&'a Entry, Labels)> {
    let mut found: Vec<(&Entry, Labels)> = Vec::new();
    for kind in [InputKind::Pod, InputKind::Deployment] {
        found.extend(cx.unique(kind).map(|e| (e, pod_labels(e))));
    }
    found.extend(
        cx.unique(InputKind::Mesh(Kind::WorkloadEntry))
            .map(|e| (e, string_map(&e.spec()["labels"]))),
    );
    found
}

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let workloads = selectable(cx);
    // Workload (by origin) → the Sidecars selecting it.
    let mut selecting: BTreeMap<String, (&Entry, Vec<&Entry>)> = BTreeMap::new();
    let mut namespace_wide: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for sidecar in cx.unique(InputKind::Mesh(Kind::Sidecar)) {
        let selector = string_map(&sidecar.spec()["workloadSelector"]["labels"]);
        if selector.is_empty() {
            namespace_wide
                .entry(sidecar.namespace.as_str())
                .or_default()
                .push(sidecar);
            continue;
        }
        let mut found = false;
        for (workload, labels) in &workloads {
            if workload.namespace == sidecar.namespace && selects(&selector, labels) {
                found = true;
                selecting
                    .entry(workload.origin())
                    .or_insert((workload, Vec::new()))
                    .1
                    .push(sidecar);
            }
        }
        if !found {
            let shown = selector_string(&selector);
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                sidecar,
                Some("spec.workloadSelector.labels".to_string()),
                format!("Referenced selector not found: {shown:?}"),
                format!(
                    "label the workloads {shown} in namespace {:?}, or correct the selector",
                    sidecar.namespace
                ),
            ));
        }
    }
    for (workload, sidecars) in selecting.values() {
        if pod_in_ambient(workload) {
            for sidecar in sidecars {
                out.push(ineffective(
                    cx,
                    sidecar,
                    "selected workload is in ambient mode, the policy has no impact",
                ));
            }
            continue;
        }
        if sidecars.len() < 2 {
            continue;
        }
        let names = names(sidecars);
        for sidecar in sidecars {
            out.push(cx.message(
                codes::CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                sidecar,
                Some("spec.workloadSelector".to_string()),
                format!(
                    "The Sidecars {names} in namespace {:?} select the same workload pod {:?}, which can lead to undefined behavior.",
                    workload.namespace, workload.name
                ),
                "narrow the selectors so that each workload is selected by one Sidecar, or merge the Sidecars",
            ));
        }
    }
    for (namespace, sidecars) in &namespace_wide {
        if namespace_in_ambient(cx, namespace) {
            for sidecar in sidecars {
                out.push(ineffective(
                    cx,
                    sidecar,
                    "namespace is in ambient mode, the policy has no impact",
                ));
            }
            continue;
        }
        if sidecars.len() < 2 {
            continue;
        }
        let names = names(sidecars);
        for sidecar in sidecars {
            out.push(cx.message(
                codes::MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
                sidecar,
                None,
                format!(
                    "The Sidecars {names} in namespace {namespace:?} have no workload selector, which can lead to undefined behavior."
                ),
                "keep one Sidecar without selector per namespace: merge them, or give the others selectors",
            ));
        }
    }
}

/// `[a b]`: sorted names, as Istio prints the list.
fn names(entries: &[&Entry]) -> String {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    format!("[{}]", names.join(" "))
}

fn ineffective(cx: &Context<'_>, entry: &Entry, reason: &str) -> Message {
    cx.message(
        codes::INEFFECTIVE_POLICY,
        entry,
        None,
        format!("The policy has no impact: {reason}."),
        "remove the policy, or move the workloads out of ambient mode",
    )
}

/// A namespace in ambient mode, and not (also) labelled for sidecar injection.
pub(crate) fn namespace_in_ambient(cx: &Context<'_>, namespace: &str) -> bool {
    let Some(ns) = cx.find(InputKind::Namespace, "", namespace) else {
        return false;
    };
    ns.label("istio-injection") != Some("enabled")
        && ns.label("istio.io/rev").is_none_or(str::is_empty)
        && ns.label("istio.io/dataplane-mode") == Some("ambient")
}

#[cfg(test)]
pub(crate) mod tests;
