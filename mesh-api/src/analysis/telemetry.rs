//! Telemetry analyzers (Istio's `telemetry.*Analyzer`s): access logging has providers,
//! selectors pick some workload, no workload is picked twice, a namespace has at most
//! one Telemetry without selector.

use std::collections::BTreeMap;

use super::Context;
use super::codes;
use super::input::{Entry, InputKind, items, string_map};
use super::labels::{selector_string, selects};
use super::message::Message;
use super::sidecar::selectable;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    providers(cx, out);
    selectors(cx, out);
}

fn providers(cx: &Context<'_>, out: &mut Vec<Message>) {
    if cx.options.mesh_config.default_access_log_providers {
        return;
    }
    for telemetry in cx.all(InputKind::Telemetry) {
        for (i, logging) in items(&telemetry.spec()["accessLogging"]).iter().enumerate() {
            if logging["disabled"] == true || !items(&logging["providers"]).is_empty() {
                continue;
            }
            out.push(cx.message(
                codes::INVALID_TELEMETRY_PROVIDER,
                telemetry,
                format!("spec.accessLogging[{i}]"),
                format!(
                    "The Telemetry {} in namespace {:?} with empty providers will be ignored.",
                    telemetry.name, telemetry.namespace
                ),
                "name a provider (providers: [{name: envoy}]), or set defaultProviders.accessLogging in the mesh config",
            ));
        }
    }
}

fn selectors(cx: &Context<'_>, out: &mut Vec<Message>) {
    let workloads = selectable(cx);
    let mut selecting: BTreeMap<String, (&Entry, Vec<&Entry>)> = BTreeMap::new();
    let mut without: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for telemetry in cx.unique(InputKind::Telemetry) {
        let selector_value = &telemetry.spec()["selector"];
        if selector_value.is_null() {
            without
                .entry(telemetry.namespace.as_str())
                .or_default()
                .push(telemetry);
            continue;
        }
        let selector = string_map(&selector_value["matchLabels"]);
        if selector.is_empty() {
            continue;
        }
        let mut found = false;
        for (workload, labels) in &workloads {
            if workload.namespace == telemetry.namespace && selects(&selector, labels) {
                found = true;
                selecting
                    .entry(workload.origin())
                    .or_insert((workload, Vec::new()))
                    .1
                    .push(telemetry);
            }
        }
        if !found {
            let shown = selector_string(&selector);
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                telemetry,
                Some("spec.selector.matchLabels".to_string()),
                format!("Referenced selector not found: {shown:?}"),
                format!(
                    "label the workloads {shown} in namespace {:?}, or correct the selector",
                    telemetry.namespace
                ),
            ));
        }
    }
    for (workload, telemetries) in selecting.values() {
        if telemetries.len() < 2 {
            continue;
        }
        let names = names(telemetries);
        for telemetry in telemetries {
            out.push(cx.message(
                codes::CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
                telemetry,
                Some("spec.selector".to_string()),
                format!(
                    "The Telemetries {names} in namespace {:?} select the same workload pod {:?}, which can lead to undefined behavior.",
                    workload.namespace, workload.name
                ),
                "narrow the selectors so that each workload is selected by one Telemetry, or merge them",
            ));
        }
    }
    for (namespace, telemetries) in &without {
        if telemetries.len() < 2 {
            continue;
        }
        let names = names(telemetries);
        for telemetry in telemetries {
            out.push(cx.message(
                codes::MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
                telemetry,
                None,
                format!(
                    "The Telemetries {names} in namespace {namespace:?} have no workload selector, which can lead to undefined behavior."
                ),
                "keep one Telemetry without selector per namespace: merge them, or give the others selectors",
            ));
        }
    }
}

fn names(entries: &[&Entry]) -> String {
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    format!("[{}]", names.join(" "))
}

#[cfg(test)]
pub(crate) mod tests;
