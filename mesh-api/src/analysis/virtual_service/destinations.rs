//! Every destination names a host that exists where the VirtualService is visible,
//! and a port of it when it has several (Istio's `DestinationHostAnalyzer`).

use super::{Routed, destinations};
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::hosts::{DefinedHost, ServiceHosts};
use crate::analysis::input::{InputKind, InputObject, items, strings};
use crate::analysis::message::Message;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let hosts = ServiceHosts::new(cx);
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        let export_to = strings(&vs.spec()["exportTo"]);
        for d in destinations(vs) {
            match hosts.lookup(&vs.namespace, &export_to, d.host()) {
                None => out.push(host_not_found(cx, vs, &d)),
                Some(defined) => ports(cx, vs, &d, defined, out),
            }
        }
        ingress_subsets(cx, vs, out);
    }
}

fn host_not_found(cx: &Context<'_>, vs: &InputObject, d: &Routed<'_>) -> Message {
    let what = if d.is_mirror { "mirror host" } else { "host" };
    cx.message(
        codes::REFERENCED_RESOURCE_NOT_FOUND,
        vs,
        format!("{}.host", d.field),
        format!("Referenced {what} not found: {:?}", d.host()),
        format!(
            "create a Service or ServiceEntry for {:?} visible in namespace {:?}, or correct the host (a short name is a Service in namespace {:?})",
            d.host(),
            vs.namespace,
            vs.namespace
        ),
    )
}

/// A destination without a port is ambiguous for a multi-port service; one with a
/// port must name one the service has.
fn ports(
    cx: &Context<'_>,
    vs: &InputObject,
    d: &Routed<'_>,
    defined: &DefinedHost<'_>,
    out: &mut Vec<Message>,
) {
    let ports = &defined.ports;
    match d.destination["port"]["number"].as_u64() {
        None if ports.len() > 1 => {
            let listed = list(ports, " ");
            out.push(cx.message(
                codes::VIRTUAL_SERVICE_DESTINATION_PORT_SELECTOR_REQUIRED,
                vs,
                format!("{}.host", d.field),
                format!(
                    "This VirtualService routes to a service {:?} that exposes multiple ports [{listed}]. Specifying a port in the destination is required to disambiguate.",
                    d.host()
                ),
                format!("add port: {{number: N}} to the destination, N one of {listed}"),
            ));
        }
        Some(number) if !ports.iter().any(|p| u64::from(*p) == number) => {
            let listed = list(ports, ", ");
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                vs,
                format!("{}.port.number", d.field),
                format!("Referenced host:port not found: \"{}:{number}\"", d.host()),
                format!(
                    "use a port {} defines ({listed}), or add port {number} to it",
                    defined.entry.origin()
                ),
            ));
        }
        _ => {}
    }
}

fn list(ports: &[u32], separator: &str) -> String {
    ports
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(separator)
}

/// Istio's `IngressRouteRulesNotAffected`: a VirtualService bound to gateways routes
/// without a subset to a host that some VirtualService routes to by subset; subsets of
/// sidecar routing do not apply to the gateway's requests.
fn ingress_subsets(cx: &Context<'_>, vs: &InputObject, out: &mut Vec<Message>) {
    if items(&vs.spec()["gateways"]).is_empty() {
        return;
    }
    for (i, rule) in items(&vs.spec()["http"]).iter().enumerate() {
        for (j, route) in items(&rule["route"]).iter().enumerate() {
            let destination = &route["destination"];
            if destination["subset"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
            {
                continue;
            }
            let host = destination["host"].as_str().unwrap_or_default();
            for other in cx.unique(InputKind::Mesh(Kind::VirtualService)) {
                if routes_to_own_host_by_subset(other, host) {
                    out.push(cx.message(
                        codes::INGRESS_ROUTE_RULES_NOT_AFFECTED,
                        vs,
                        format!("spec.http[{i}].route[{j}].destination.host"),
                        format!(
                            "Subset in virtual service {} has no effect on ingress gateway {} requests",
                            other.full_name(),
                            vs.full_name()
                        ),
                        "route to the subset in this VirtualService too, or drop the subset from the other one",
                    ));
                }
            }
        }
    }
}

/// Whether `vs` routes by subset to `host`, a host it itself serves.
fn routes_to_own_host_by_subset(vs: &InputObject, host: &str) -> bool {
    let own_hosts = strings(&vs.spec()["hosts"]);
    items(&vs.spec()["http"]).iter().any(|rule| {
        items(&rule["route"]).iter().any(|route| {
            let d = &route["destination"];
            d["subset"].as_str().is_some_and(|s| !s.is_empty())
                && d["host"].as_str() == Some(host)
                && own_hosts.contains(&host)
        })
    })
}
