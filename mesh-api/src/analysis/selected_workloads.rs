//! Policies of one kind that pick workloads by label (Sidecar, Telemetry), as Istio's
//! selector analyzers check them: each selector picks some workload of its namespace,
//! no workload is picked by two policies, a namespace has at most one policy without
//! selector.

use std::collections::BTreeMap;

use super::Context;
use super::codes;
use super::input::{Entry, InputKind, string_map};
use super::labels::{Labels, selector_string, selects};
use super::message::{Message, MessageType};
use super::workloads::pod_labels;
use crate::object::Kind;

/// What a policy's selector says.
pub(crate) enum Selection {
    /// No selector: the policy is its namespace's default.
    NamespaceWide,
    /// A selector that selects nothing in particular; Istio leaves it alone.
    Ignored,
    Labels(Labels),
}

/// Which workloads the policies of one kind pick.
#[derive(Default)]
pub(crate) struct Selections<'a> {
    /// Workload (by origin) → the workload and the policies picking it.
    pub(crate) by_workload: BTreeMap<String, (&'a Entry, Vec<&'a Entry>)>,
    /// Namespace → its policies without selector.
    pub(crate) namespace_wide: BTreeMap<&'a str, Vec<&'a Entry>>,
}

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

/// Groups the policies of `kind`; reports (IST0101) those whose selector, at
/// `selector_field`, picks no workload of their namespace.
pub(crate) fn select<'a>(
    cx: &Context<'a>,
    kind: InputKind,
    selection: impl Fn(&Entry) -> Selection,
    selector_field: &str,
    out: &mut Vec<Message>,
) -> Selections<'a> {
    let workloads = selectable(cx);
    let mut selections = Selections::default();
    for policy in cx.unique(kind) {
        let selector = match selection(policy) {
            Selection::NamespaceWide => {
                selections
                    .namespace_wide
                    .entry(policy.namespace.as_str())
                    .or_default()
                    .push(policy);
                continue;
            }
            Selection::Ignored => continue,
            Selection::Labels(labels) => labels,
        };
        let mut found = false;
        for (workload, labels) in &workloads {
            if workload.namespace == policy.namespace && selects(&selector, labels) {
                found = true;
                selections
                    .by_workload
                    .entry(workload.origin())
                    .or_insert((workload, Vec::new()))
                    .1
                    .push(policy);
            }
        }
        if !found {
            let shown = selector_string(&selector);
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                policy,
                Some(selector_field.to_string()),
                format!("Referenced selector not found: {shown:?}"),
                format!(
                    "label the workloads {shown} in namespace {:?}, or correct the selector",
                    policy.namespace
                ),
            ));
        }
    }
    selections
}

/// Reports every policy of a workload picked by several (`plural`: "Sidecars").
pub(crate) fn same_workload(
    cx: &Context<'_>,
    code: MessageType,
    plural: &str,
    workload: &Entry,
    policies: &[&Entry],
    out: &mut Vec<Message>,
) {
    let what = format!("select the same workload pod {:?}", workload.name);
    let fix = format!(
        "narrow the selectors so that each workload is selected by one of the {plural}, or merge them"
    );
    report_each(
        cx,
        code,
        plural,
        &workload.namespace,
        &what,
        &fix,
        policies,
        out,
    );
}

/// Reports every policy of a namespace with several without selector.
pub(crate) fn several_namespace_wide(
    cx: &Context<'_>,
    code: MessageType,
    plural: &str,
    namespace: &str,
    policies: &[&Entry],
    out: &mut Vec<Message>,
) {
    let fix = format!(
        "keep one of the {plural} without selector in the namespace: merge them, or give the others selectors"
    );
    report_each(
        cx,
        code,
        plural,
        namespace,
        "have no workload selector",
        &fix,
        policies,
        out,
    );
}

/// `The {plural} [a b] in namespace "ns" {what}, which can lead to undefined behavior.`
/// about each of several policies.
#[allow(clippy::too_many_arguments)]
fn report_each(
    cx: &Context<'_>,
    code: MessageType,
    plural: &str,
    namespace: &str,
    what: &str,
    fix: &str,
    policies: &[&Entry],
    out: &mut Vec<Message>,
) {
    if policies.len() < 2 {
        return;
    }
    let names = names(policies);
    for policy in policies {
        out.push(cx.message(
            code,
            policy,
            Some("metadata.name".to_string()),
            format!("The {plural} {names} in namespace {namespace:?} {what}, which can lead to undefined behavior."),
            fix,
        ));
    }
}

/// `[a b]`: sorted names, as Istio prints the list.
fn names(entries: &[&Entry]) -> String {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    format!("[{}]", names.join(" "))
}
