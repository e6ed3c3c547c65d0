//! DestinationRule analyzers: TLS origination verifies the server (Istio's
//! `CaCertificateAnalyzer`), the host exists, and each subset selects some workload
//! (Istio's `SubsetSelectPodAnalyzer`).

use serde_json::Value;

use super::Context;
use super::codes;
use super::hosts::ServiceHosts;
use super::input::{InputKind, InputObject, items, string_map, strings};
use super::labels::{Labels, selects};
use super::message::Message;
use super::workloads::pod_labels;
use crate::object::Kind;

const DESTINATION_RULE: InputKind = InputKind::Mesh(Kind::DestinationRule);

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let hosts = ServiceHosts::new(cx);
    let workloads = workload_labels(cx);
    for dr in cx.all(DESTINATION_RULE) {
        ca_certificates(cx, dr, out);
        let host = dr.spec()["host"].as_str().unwrap_or_default();
        let export_to = strings(&dr.spec()["exportTo"]);
        let Some(defined) = hosts.lookup(&dr.namespace, &export_to, host) else {
            out.push(cx.message(
                codes::UNKNOWN_DESTINATION_RULE_HOST,
                dr,
                Some("spec.host".to_string()),
                format!("The host {host} defined in the DestinationRule does not match any services in the mesh."),
                format!("create a Service or ServiceEntry for {host:?} visible in namespace {:?}, or correct the host", dr.namespace),
            ));
            continue;
        };
        for (i, subset) in items(&dr.spec()["subsets"]).iter().enumerate() {
            let mut selector = defined.workload_selector.clone();
            selector.extend(string_map(&subset["labels"]));
            if workloads.iter().any(|w| selects(&selector, w)) {
                continue;
            }
            let name = subset["name"].as_str().unwrap_or_default();
            out.push(cx.message(
                codes::DESTINATION_RULE_SUBSET_NOT_SELECT_PODS,
                dr,
                format!("spec.subsets[{i}].labels"),
                format!("The Subset {name} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."),
                "correct the subset's labels to those of the version's pods, or deploy the version",
            ));
        }
    }
}

/// TLS to the destination without `caCertificates` does not verify the server, unless
/// a credential bound to selected workloads supplies the roots.
fn ca_certificates(cx: &Context<'_>, dr: &InputObject, out: &mut Vec<Message>) {
    let spec = dr.spec();
    let host = spec["host"].as_str().unwrap_or_default();
    let has_selector = spec["workloadSelector"].is_object();
    let unverified = |tls: &Value| -> Option<String> {
        let mode = tls["mode"].as_str()?;
        let verifies = tls["caCertificates"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
            || (tls["credentialName"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
                && has_selector);
        (matches!(mode, "SIMPLE" | "MUTUAL") && !verifies).then(|| mode.to_string())
    };
    let fix = "set caCertificates (or a credentialName with the CA) so that the server's certificate is verified";
    if let Some(mode) = unverified(&spec["trafficPolicy"]["tls"]) {
        out.push(cx.message(
            codes::NO_SERVER_CERTIFICATE_VERIFICATION_DESTINATION_LEVEL,
            dr,
            Some("spec.trafficPolicy.tls".to_string()),
            format!(
                "DestinationRule {} in namespace {} has TLS mode set to {mode} but no caCertificates are set to validate server identity for host: {host}",
                dr.full_name(),
                dr.namespace
            ),
            fix,
        ));
    }
    for (i, port) in items(&spec["trafficPolicy"]["portLevelSettings"])
        .iter()
        .enumerate()
    {
        if let Some(mode) = unverified(&port["tls"]) {
            let number = port["port"]["number"].as_u64().unwrap_or(0);
            out.push(cx.message(
                codes::NO_SERVER_CERTIFICATE_VERIFICATION_PORT_LEVEL,
                dr,
                format!("spec.trafficPolicy.portLevelSettings[{i}].tls"),
                format!(
                    "DestinationRule {} in namespace {} has TLS mode set to {mode} but no caCertificates are set to validate server identity for host: {host} at port number:{number}",
                    dr.full_name(),
                    dr.namespace
                ),
                fix,
            ));
        }
    }
}

/// The labels of every workload a subset could select: Pods (with their node's
/// topology labels, as Istio adds them), the pods Deployments create, WorkloadEntries.
fn workload_labels(cx: &Context<'_>) -> Vec<Labels> {
    let mut found = Vec::new();
    for pod in cx.unique(InputKind::Pod) {
        let mut labels = pod.labels();
        if let Some(node_name) = pod.spec()["nodeName"].as_str().filter(|n| !n.is_empty()) {
            if let Some(node) = cx.find(InputKind::Node, "", node_name) {
                let node_labels = node.labels();
                for key in [
                    "topology.kubernetes.io/region",
                    "topology.kubernetes.io/zone",
                    "topology.istio.io/subzone",
                ] {
                    if let Some(v) = node_labels.get(key).filter(|v| !v.is_empty()) {
                        labels.insert(key.to_string(), v.clone());
                    }
                }
            }
            labels.insert("kubernetes.io/hostname".to_string(), node_name.to_string());
        }
        found.push(labels);
    }
    found.extend(cx.unique(InputKind::Deployment).map(pod_labels));
    found.extend(
        cx.unique(InputKind::Mesh(Kind::WorkloadEntry))
            .map(|we| string_map(&we.spec()["labels"])),
    );
    found
}

#[cfg(test)]
pub(crate) mod tests;
