//! Policies of one kind that pick workloads by label (Sidecar, Telemetry), as Istio's
//! selector analyzers check them: each selector picks some workload of its namespace,
//! no workload is picked by two policies, a namespace has at most one policy without
//! selector.

use std::collections::BTreeMap;

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, string_map};
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
    pub(crate) by_workload: BTreeMap<String, (&'a InputObject, Vec<&'a InputObject>)>,
    /// Namespace → its policies without selector.
    pub(crate) namespace_wide: BTreeMap<&'a str, Vec<&'a InputObject>>,
}

/// Pods, Deployments (their pods) and WorkloadEntries: what a selector can pick.
pub(crate) fn selectable<'a>(cx: &Context<'a>) -> Vec<(&'a InputObject, Labels)> {
    let mut found: Vec<(&InputObject, Labels)> = Vec::new();
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
    selection: impl Fn(&InputObject) -> Selection,
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

/// Policies of one kind that share what should be one policy's: a workload or a
/// namespace's default.
pub(crate) struct Overlap<'a> {
    pub(crate) code: MessageType,
    /// The kind's plural, as messages name them: "Sidecars".
    pub(crate) plural: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) policies: &'a [&'a InputObject],
}

impl Overlap<'_> {
    /// Reports every policy picking `workload` when there are several.
    pub(crate) fn same_workload(
        &self,
        cx: &Context<'_>,
        workload: &InputObject,
        out: &mut Vec<Message>,
    ) {
        let plural = self.plural;
        self.report(
            cx,
            &format!("select the same workload pod {:?}", workload.name),
            &format!("narrow the selectors so that each workload is selected by one of the {plural}, or merge them"),
            out,
        );
    }

    /// Reports every policy without selector when the namespace has several.
    pub(crate) fn namespace_wide(&self, cx: &Context<'_>, out: &mut Vec<Message>) {
        let plural = self.plural;
        self.report(
            cx,
            "have no workload selector",
            &format!("keep one of the {plural} without selector in the namespace: merge them, or give the others selectors"),
            out,
        );
    }

    /// `The {plural} [a b] in namespace "ns" {what}, which can lead to undefined
    /// behavior.` about each policy.
    fn report(&self, cx: &Context<'_>, what: &str, fix: &str, out: &mut Vec<Message>) {
        if self.policies.len() < 2 {
            return;
        }
        let (plural, namespace) = (self.plural, self.namespace);
        let names = names(self.policies);
        for policy in self.policies {
            out.push(cx.message(
                self.code,
                policy,
                Some("metadata.name".to_string()),
                format!("The {plural} {names} in namespace {namespace:?} {what}, which can lead to undefined behavior."),
                fix,
            ));
        }
    }
}

/// `[a b]`: sorted names, as Istio prints the list.
fn names(entries: &[&InputObject]) -> String {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    format!("[{}]", names.join(" "))
}
