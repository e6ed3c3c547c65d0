//! Sidecar analyzers (Istio's `sidecar.SelectorAnalyzer`): a selector picks some
//! workload; no workload is picked by two Sidecars; a namespace has at most one
//! Sidecar without selector; Sidecars for ambient workloads have no effect.

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, string_map};
use super::message::Message;
use super::selected_workloads::{Overlap, Selection, select};
use super::workloads::pod_in_ambient;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let selections = select(
        cx,
        InputKind::Mesh(Kind::Sidecar),
        |sidecar| {
            let labels = string_map(&sidecar.spec()["workloadSelector"]["labels"]);
            if labels.is_empty() {
                Selection::NamespaceWide
            } else {
                Selection::Labels(labels)
            }
        },
        "spec.workloadSelector.labels",
        out,
    );
    for (workload, sidecars) in selections.by_workload.values() {
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
        Overlap {
            code: codes::CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
            plural: "Sidecars",
            namespace: &workload.namespace,
            policies: sidecars,
        }
        .same_workload(cx, workload, out);
    }
    for (namespace, sidecars) in &selections.namespace_wide {
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
        Overlap {
            code: codes::MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
            plural: "Sidecars",
            namespace,
            policies: sidecars,
        }
        .namespace_wide(cx, out);
    }
}

fn ineffective(cx: &Context<'_>, entry: &InputObject, reason: &str) -> Message {
    cx.message(
        codes::INEFFECTIVE_POLICY,
        entry,
        None,
        format!("The policy has no impact: {reason}."),
        "remove the policy, or move the workloads out of ambient mode",
    )
}

/// A namespace in ambient mode, and not (also) labelled for sidecar injection.
fn namespace_in_ambient(cx: &Context<'_>, namespace: &str) -> bool {
    let Some(ns) = cx.find(InputKind::Namespace, "", namespace) else {
        return false;
    };
    ns.label("istio-injection") != Some("enabled")
        && ns.label("istio.io/rev").is_none_or(str::is_empty)
        && ns.label("istio.io/dataplane-mode") == Some("ambient")
}

#[cfg(test)]
pub(crate) mod tests;
