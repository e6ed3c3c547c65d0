//! mesh's own checks of policies that contradict each other:
//! - two PeerAuthentications at the same level for the same workloads (Istio silently
//!   uses the oldest);
//! - a DestinationRule whose TLS mode the workloads behind its host refuse (plain text
//!   to workloads that require mTLS, mTLS to workloads that turned it off).

use std::collections::BTreeMap;

use super::Context;
use super::codes;
use super::hosts::host_resource_name;
use super::input::{InputKind, InputObject, string_map};
use super::labels::{Labels, selects};
use super::message::Message;
use super::workloads::pod_labels;
use crate::object::Kind;

const PEER_AUTHENTICATION: InputKind = InputKind::Mesh(Kind::PeerAuthentication);

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    conflicting_policies(cx, out);
    tls_mode_conflicts(cx, out);
}

/// A workload as policies select it: a Pod, a Deployment's pods or a WorkloadEntry.
struct Workload<'a> {
    entry: &'a InputObject,
    labels: Labels,
}

fn workloads<'a>(cx: &Context<'a>) -> Vec<Workload<'a>> {
    let mut found: Vec<Workload<'a>> = Vec::new();
    for kind in [InputKind::Pod, InputKind::Deployment] {
        found.extend(cx.unique(kind).map(|e| Workload {
            entry: e,
            labels: pod_labels(e),
        }));
    }
    found.extend(
        cx.unique(InputKind::Mesh(Kind::WorkloadEntry))
            .map(|e| Workload {
                entry: e,
                labels: string_map(&e.spec()["labels"]),
            }),
    );
    found
}

/// A PeerAuthentication's selector; `None` when it has none (namespace- or mesh-wide).
fn selector(pa: &InputObject) -> Option<Labels> {
    Some(string_map(&pa.spec()["selector"]["matchLabels"])).filter(|s| !s.is_empty())
}

fn conflicting_policies(cx: &Context<'_>, out: &mut Vec<Message>) {
    let mut wide: BTreeMap<&str, Vec<&InputObject>> = BTreeMap::new();
    let mut selecting: Vec<(&InputObject, Labels)> = Vec::new();
    for pa in cx.unique(PEER_AUTHENTICATION) {
        match selector(pa) {
            Some(s) => selecting.push((pa, s)),
            None => wide.entry(pa.namespace.as_str()).or_default().push(pa),
        }
    }
    for (namespace, policies) in &wide {
        let scope = if *namespace == cx.root_namespace() {
            "mesh-wide (root namespace, no selector)".to_string()
        } else {
            format!("namespace-wide for {namespace:?} (no selector)")
        };
        for (first, other) in policies.iter().zip(policies.iter().skip(1)) {
            out.push(cx.message(
                codes::CONFLICTING_PEER_AUTHENTICATIONS,
                other,
                None,
                format!(
                    "conflicts with {}: both are {scope}; only one such PeerAuthentication takes effect (the oldest)",
                    first.origin()
                ),
                format!("merge the two into one PeerAuthentication or delete {}", other.origin()),
            ));
        }
    }
    let workloads = workloads(cx);
    for (i, (a, a_labels)) in selecting.iter().enumerate() {
        for (b, b_labels) in &selecting[i + 1..] {
            if a.namespace != b.namespace {
                continue;
            }
            let shared = workloads.iter().find(|w| {
                w.entry.namespace == a.namespace
                    && selects(a_labels, &w.labels)
                    && selects(b_labels, &w.labels)
            });
            if let Some(w) = shared {
                out.push(cx.message(
                    codes::CONFLICTING_PEER_AUTHENTICATIONS,
                    b,
                    Some("spec.selector".to_string()),
                    format!(
                        "conflicts with {}: both select {}; only one takes effect (the oldest)",
                        a.origin(),
                        w.entry.origin()
                    ),
                    "narrow one selector so that each workload is selected by one PeerAuthentication",
                ));
            }
        }
    }
}

/// The mTLS mode in force for a workload and the policy that sets it: a selecting
/// policy over its namespace's, over the mesh's; `UNSET` inherits.
fn effective_mode<'a>(cx: &Context<'a>, w: &Workload<'_>) -> Option<(String, &'a InputObject)> {
    let mode = |pa: &'a InputObject| -> Option<(String, &'a InputObject)> {
        let m = pa.spec()["mtls"]["mode"].as_str()?;
        (m != "UNSET").then(|| (m.to_string(), pa))
    };
    let policies: Vec<&InputObject> = cx.unique(PEER_AUTHENTICATION).collect();
    let selecting = policies.iter().copied().find(|pa| {
        pa.namespace == w.entry.namespace && selector(pa).is_some_and(|s| selects(&s, &w.labels))
    });
    let namespace_wide = policies
        .iter()
        .copied()
        .find(|pa| pa.namespace == w.entry.namespace && selector(pa).is_none());
    let mesh_wide = policies
        .iter()
        .copied()
        .find(|pa| pa.namespace == cx.root_namespace() && selector(pa).is_none());
    selecting
        .and_then(mode)
        .or_else(|| namespace_wide.and_then(mode))
        .or_else(|| mesh_wide.and_then(mode))
}

fn tls_mode_conflicts(cx: &Context<'_>, out: &mut Vec<Message>) {
    let workloads = workloads(cx);
    for dr in cx.unique(InputKind::Mesh(Kind::DestinationRule)) {
        let Some(client_mode) = dr.spec()["trafficPolicy"]["tls"]["mode"].as_str() else {
            continue;
        };
        let refused = match client_mode {
            "DISABLE" => "STRICT",
            "ISTIO_MUTUAL" => "DISABLE",
            _ => continue,
        };
        let host = dr.spec()["host"].as_str().unwrap_or_default();
        let (namespace, name) = host_resource_name(cx, &dr.namespace, host);
        let Some(service) = cx.find(InputKind::Mesh(Kind::Service), &namespace, &name) else {
            continue;
        };
        let service_selector = string_map(&service.spec()["selector"]);
        if service_selector.is_empty() {
            continue;
        }
        let behind = workloads.iter().filter(|w| {
            w.entry.namespace == service.namespace && selects(&service_selector, &w.labels)
        });
        for w in behind {
            let Some((mode, pa)) = effective_mode(cx, w) else {
                continue;
            };
            if mode != refused {
                continue;
            }
            let (what, fix) = if client_mode == "DISABLE" {
                (
                    "plain text",
                    "set tls.mode ISTIO_MUTUAL (or remove it: sidecars use mTLS by default)",
                )
            } else {
                (
                    "mTLS",
                    "set tls.mode DISABLE for this host, or let the workloads accept mTLS",
                )
            };
            out.push(cx.message(
                codes::TLS_MODE_CONFLICTS_WITH_PEER_AUTHENTICATION,
                dr,
                Some("spec.trafficPolicy.tls.mode".to_string()),
                format!(
                    "sends {what} (tls.mode {client_mode}) to {host:?}, but {} requires mode {mode} ({}): its requests fail",
                    w.entry.origin(),
                    pa.origin()
                ),
                fix,
            ));
            break;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
