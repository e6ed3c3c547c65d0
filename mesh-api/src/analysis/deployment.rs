//! Deployment and Pod analyzers: a workload's Services agree on protocols and ports
//! (Istio's `deployment.MultiServiceAnalyzer`), and the application does not run as the
//! sidecar's UID 1337 (`ApplicationUIDAnalyzer`).

use std::collections::BTreeMap;

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, items, scalar_string, string_map};
use super::labels::selects;
use super::message::Message;
use super::service_ports::is_control_plane;
use super::workloads::{PROXY_CONTAINERS, in_mesh, pod_labels, pod_template};
use crate::object::Kind;

/// The UID the sidecar runs as; the redirect rules exempt its traffic.
const PROXY_UID: i64 = 1337;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for deployment in cx.all(InputKind::Deployment) {
        let waypoint =
            deployment.label("gateway.istio.io/managed") == Some("istio.io-mesh-controller");
        if !waypoint && in_mesh(cx, deployment) {
            services(cx, deployment, out);
        }
    }
    for kind in [InputKind::Pod, InputKind::Deployment] {
        for entry in cx.all(kind) {
            if !is_control_plane(entry) {
                proxy_uid(cx, entry, out);
            }
        }
    }
}

fn services(cx: &Context<'_>, deployment: &InputObject, out: &mut Vec<Message>) {
    let labels = pod_labels(deployment);
    let matching: Vec<&InputObject> = cx
        .unique(InputKind::Mesh(Kind::Service))
        .filter(|svc| {
            let selector = string_map(&svc.spec()["selector"]);
            svc.namespace == deployment.namespace
                && !selector.is_empty()
                && selects(&selector, &labels)
        })
        .collect();
    // port → protocol → services; targetPort → port → service.
    let mut protocols: BTreeMap<u64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut targets: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
    for svc in &matching {
        for port in items(&svc.spec()["ports"]) {
            let number = port["port"].as_u64().unwrap_or(0);
            let protocol = port["protocol"]
                .as_str()
                .filter(|p| !p.is_empty())
                .unwrap_or("TCP");
            protocols
                .entry(number)
                .or_default()
                .entry(protocol.to_string())
                .or_default()
                .push(svc.full_name());
            let target = scalar_string(&port["targetPort"])
                .filter(|t| !t.is_empty() && t != "0")
                .unwrap_or_else(|| number.to_string());
            targets
                .entry(target)
                .or_default()
                .insert(number, svc.full_name());
        }
    }
    for (port, by_protocol) in &protocols {
        if by_protocol.len() < 2 {
            continue;
        }
        let mut names: Vec<&str> = by_protocol.values().flatten().map(String::as_str).collect();
        names.sort_unstable();
        out.push(cx.message(
            codes::DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
            deployment,
            Some("metadata.name".to_string()),
            format!(
                "This deployment {} is associated with multiple services using port {port} but different protocols: [{}]",
                deployment.name,
                names.join(" ")
            ),
            "give the port one protocol in every Service that selects these pods",
        ));
    }
    for (target, by_port) in &targets {
        if by_port.len() < 2 {
            continue;
        }
        let mut names: Vec<&str> = by_port.values().map(String::as_str).collect();
        names.sort_unstable();
        let ports: Vec<String> = by_port.keys().map(u64::to_string).collect();
        out.push(cx.message(
            codes::DEPLOYMENT_CONFLICTING_PORTS,
            deployment,
            Some("metadata.name".to_string()),
            format!(
                "This deployment {} is associated with multiple services [{}] using targetPort {target:?} but different ports: [{}].",
                deployment.name,
                names.join(" "),
                ports.join(" ")
            ),
            "make every Service that sends to this target port use the same port number for it",
        ));
    }
}

fn proxy_uid(cx: &Context<'_>, entry: &InputObject, out: &mut Vec<Message>) {
    let (_, spec) = pod_template(entry);
    let spec_path = if entry.kind == InputKind::Deployment {
        "spec.template.spec"
    } else {
        "spec"
    };
    let mut fields: Vec<String> = Vec::new();
    if spec["securityContext"]["runAsUser"].as_i64() == Some(PROXY_UID) {
        fields.push(format!("{spec_path}.securityContext.runAsUser"));
    }
    for (i, container) in items(&spec["containers"]).iter().enumerate() {
        let name = container["name"].as_str().unwrap_or_default();
        if !PROXY_CONTAINERS.contains(&name)
            && name != "istio-operator"
            && container["securityContext"]["runAsUser"].as_i64() == Some(PROXY_UID)
        {
            fields.push(format!(
                "{spec_path}.containers[{i}].securityContext.runAsUser"
            ));
        }
    }
    // One message per object, as Istio's messages about it read the same.
    if let Some(field) = fields.into_iter().next() {
        out.push(cx.message(
            codes::INVALID_APPLICATION_UID,
            entry,
            field,
            "User ID (UID) 1337 is reserved for the sidecar proxy.",
            "run the application as another UID: the sidecar's traffic rules exempt UID 1337, so the application's traffic would bypass the proxy",
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests;
