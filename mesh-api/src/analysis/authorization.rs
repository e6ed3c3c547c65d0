//! AuthorizationPolicy analyzers (Istio's `AuthorizationPoliciesAnalyzer`): a policy
//! applies to some workload of the mesh, and the namespaces its rules name exist. Also
//! RequestAuthentication's: istiod restricts where JWKS may be fetched from
//! (`authn.BlockedCIDRsAnalyzer`).

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, items, string_map, strings};
use super::labels::{Labels, selector_string, selects};
use super::message::Message;
use super::workloads::{in_mesh, pod_in_ambient, pod_labels};
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let workloads = mesh_workloads(cx);
    for policy in cx.all(InputKind::Mesh(Kind::AuthorizationPolicy)) {
        no_matching_workloads(cx, policy, &workloads, out);
        namespaces(cx, policy, out);
    }
    blocked_cidrs(cx, out);
}

/// Workloads with a sidecar (or in ambient mode), by namespace: Pods, the pods of
/// Deployments, and (universal mode) WorkloadEntries.
fn mesh_workloads(cx: &Context<'_>) -> Vec<(String, Labels)> {
    let mut found = Vec::new();
    for kind in [InputKind::Pod, InputKind::Deployment] {
        for e in cx.unique(kind) {
            if in_mesh(cx, e) || pod_in_ambient(e) {
                found.push((e.namespace.clone(), pod_labels(e)));
            }
        }
    }
    for we in cx.unique(InputKind::Mesh(Kind::WorkloadEntry)) {
        found.push((we.namespace.clone(), string_map(&we.spec()["labels"])));
    }
    found
}

fn no_matching_workloads(
    cx: &Context<'_>,
    policy: &InputObject,
    workloads: &[(String, Labels)],
    out: &mut Vec<Message>,
) {
    let has_selector = policy.spec()["selector"].is_object();
    let selector = string_map(&policy.spec()["selector"]["matchLabels"]);
    let mesh_wide = policy.namespace == cx.root_namespace();
    let matched = match (mesh_wide, has_selector) {
        // Mesh-wide without selector: applies to every workload there is or will be.
        (true, false) => return,
        (true, true) => workloads.iter().any(|(_, l)| selects(&selector, l)),
        (false, false) => workloads.iter().any(|(ns, _)| *ns == policy.namespace),
        (false, true) => workloads
            .iter()
            .any(|(ns, l)| *ns == policy.namespace && selects(&selector, l)),
    };
    if matched {
        return;
    }
    let shown = selector_string(&selector);
    let (field, fix) = if has_selector {
        (
            "spec.selector.matchLabels",
            format!("label the intended workloads {shown}, or correct the selector"),
        )
    } else {
        (
            "metadata.namespace",
            format!(
                "deploy the workloads to namespace {:?} with sidecars, or move the policy",
                policy.namespace
            ),
        )
    };
    out.push(cx.message(
        codes::NO_MATCHING_WORKLOADS_FOUND,
        policy,
        Some(field.to_string()),
        format!("No matching workloads for this resource with the following labels: {shown}"),
        fix,
    ));
}

/// Namespaces named by `from.source.namespaces` / `notNamespaces` exist (`*`, `prefix*`
/// and `*suffix` match by pattern).
fn namespaces(cx: &Context<'_>, policy: &InputObject, out: &mut Vec<Message>) {
    let existing: Vec<&str> = cx
        .unique(InputKind::Namespace)
        .map(|n| n.name.as_str())
        .collect();
    for (i, rule) in items(&policy.spec()["rules"]).iter().enumerate() {
        for (j, from) in items(&rule["from"]).iter().enumerate() {
            for list in ["namespaces", "notNamespaces"] {
                for (k, pattern) in strings(&from["source"][list]).into_iter().enumerate() {
                    if existing.iter().any(|ns| namespace_matches(ns, pattern)) {
                        continue;
                    }
                    out.push(cx.message(
                        codes::REFERENCED_RESOURCE_NOT_FOUND,
                        policy,
                        format!("spec.rules[{i}].from[{j}].source.{list}[{k}]"),
                        format!("Referenced namespace not found: {pattern:?}"),
                        "correct the namespace, or include its Namespace in the analyzed files",
                    ));
                }
            }
        }
    }
}

fn namespace_matches(namespace: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return namespace.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return namespace.starts_with(prefix);
    }
    namespace.eq_ignore_ascii_case(pattern)
}

/// With RequestAuthentications in the mesh, istiod should restrict the addresses it
/// fetches JWKS from (`BLOCKED_CIDRS_IN_JWKS_URIS`), or a policy author can make it
/// fetch from inside the cluster.
fn blocked_cidrs(cx: &Context<'_>, out: &mut Vec<Message>) {
    let names: Vec<String> = cx
        .unique(InputKind::Mesh(Kind::RequestAuthentication))
        .map(InputObject::full_name)
        .collect();
    if names.is_empty() {
        return;
    }
    let shown = if names.len() <= 5 {
        names.join(", ")
    } else {
        format!("{}, and {} more", names[..5].join(", "), names.len() - 5)
    };
    for deployment in cx.all(InputKind::Deployment) {
        if deployment.label("app") != Some("istiod") {
            continue;
        }
        let configured = items(&deployment.spec()["template"]["spec"]["containers"])
            .iter()
            .flat_map(|c| items(&c["env"]))
            .any(|e| {
                e["name"] == "BLOCKED_CIDRS_IN_JWKS_URIS"
                    && e["value"].as_str().is_some_and(|v| !v.is_empty())
            });
        if configured {
            continue;
        }
        out.push(cx.message(
            codes::JWKS_URI_FETCH_UNRESTRICTED,
            deployment,
            Some("spec.template.spec.containers".to_string()),
            format!(
                "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but {} RequestAuthentication resource(s) exist ({shown}). Consider configuring it to restrict JWKS URI fetches to trusted networks.",
                names.len()
            ),
            "set the env BLOCKED_CIDRS_IN_JWKS_URIS on istiod to the cluster's internal ranges (e.g. 10.0.0.0/8,169.254.0.0/16)",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests;
