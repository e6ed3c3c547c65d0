//! Telemetry analyzers (Istio's `telemetry.*Analyzer`s): access logging has providers,
//! selectors pick some workload, no workload is picked twice, a namespace has at most
//! one Telemetry without selector.

use super::Context;
use super::codes;
use super::input::{InputKind, items, string_map};
use super::message::Message;
use super::selected_workloads::{Overlap, Selection, select};

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    providers(cx, out);
    selectors(cx, out);
}

fn providers(cx: &Context<'_>, out: &mut Vec<Message>) {
    if cx.options.mesh_config.default_access_log_providers {
        return;
    }
    for telemetry in cx.all(InputKind::Telemetry) {
        let ignored = items(&telemetry.spec()["accessLogging"])
            .iter()
            .any(|l| l["disabled"] != true && items(&l["providers"]).is_empty());
        // One message per Telemetry, however many of its entries lack providers.
        if ignored {
            out.push(cx.message(
                codes::INVALID_TELEMETRY_PROVIDER,
                telemetry,
                Some("spec.accessLogging".to_string()),
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
    let selections = select(
        cx,
        InputKind::Telemetry,
        |telemetry| {
            let selector = &telemetry.spec()["selector"];
            match string_map(&selector["matchLabels"]) {
                _ if selector.is_null() => Selection::NamespaceWide,
                labels if labels.is_empty() => Selection::Ignored,
                labels => Selection::Labels(labels),
            }
        },
        "spec.selector.matchLabels",
        out,
    );
    for (workload, telemetries) in selections.by_workload.values() {
        Overlap {
            code: codes::CONFLICTING_TELEMETRY_WORKLOAD_SELECTORS,
            plural: "Telemetries",
            namespace: &workload.namespace,
            policies: telemetries,
        }
        .same_workload(cx, workload, out);
    }
    for (namespace, telemetries) in &selections.namespace_wide {
        Overlap {
            code: codes::MULTIPLE_TELEMETRIES_WITHOUT_WORKLOAD_SELECTORS,
            plural: "Telemetries",
            namespace,
            policies: telemetries,
        }
        .namespace_wide(cx, out);
    }
}

#[cfg(test)]
pub(crate) mod tests;
