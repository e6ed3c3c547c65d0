//! Istio's semantic validation, where it rejects what the schema admits (reported, as
//! Istio does, as IST0106): gateways without servers or hosts, servers whose protocol
//! and TLS settings disagree, HTTP rules that do nothing or two things at once, TCP and
//! TLS rules without routes, ServiceEntries without hosts, repeated names. (What the
//! schema itself requires, a port's protocol or a TLS rule's match, it reports.)

use std::collections::BTreeSet;

use serde_json::Value;

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, items, strings};
use super::message::Message;
use super::service_ports::PROTOCOLS;
use super::virtual_service::{MESH_GATEWAY, hosts_overlap, is_jwt_claim};
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let mut report = |entry: &InputObject, field: String, text: &str, fix: &str| {
        out.push(cx.message(codes::SCHEMA_VALIDATION_ERROR, entry, field, text, fix));
    };
    for gateway in cx.all(InputKind::Mesh(Kind::Gateway)) {
        gateway_servers(gateway, &mut report);
    }
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        virtual_service_rules(vs, &mut report);
    }
    for se in cx.all(InputKind::Mesh(Kind::ServiceEntry)) {
        if items(&se.spec()["hosts"]).is_empty() {
            report(
                se,
                "spec.hosts".to_string(),
                "service entry must have at least one host",
                "list the hosts the entry defines",
            );
        }
    }
    for dr in cx.all(InputKind::Mesh(Kind::DestinationRule)) {
        let mut names = BTreeSet::new();
        for (i, subset) in items(&dr.spec()["subsets"]).iter().enumerate() {
            let name = subset["name"].as_str().unwrap_or_default();
            if !names.insert(name) {
                report(
                    dr,
                    format!("spec.subsets[{i}].name"),
                    &format!("duplicate subset names: {name}"),
                    "give each subset its own name",
                );
            }
        }
    }
}

type Report<'r> = dyn FnMut(&InputObject, String, &str, &str) + 'r;

fn gateway_servers(gateway: &InputObject, report: &mut Report<'_>) {
    let servers = items(&gateway.spec()["servers"]);
    if servers.is_empty() {
        report(
            gateway,
            "spec.servers".to_string(),
            "gateway must have at least one server",
            "add a server: a port, its protocol and the hosts it serves",
        );
        return;
    }
    let mut port_names = BTreeSet::new();
    for (i, server) in servers.iter().enumerate() {
        let field = format!("spec.servers[{i}]");
        if items(&server["hosts"]).is_empty() {
            report(
                gateway,
                format!("{field}.hosts"),
                "server config must contain at least one host",
                "list the hosts the server serves (\"*\" for any)",
            );
        }
        let port = &server["port"];
        if !port.is_object() {
            continue;
        }
        // A missing protocol is a schema error already.
        let Some(protocol) = port["protocol"].as_str() else {
            continue;
        };
        // A missing number is a schema error already.
        if let Some(number) = port["number"].as_u64() {
            let unix_bind = server["bind"]
                .as_str()
                .is_some_and(|b| b.starts_with("unix://"));
            let valid = (1..=65535).contains(&number) || (number == 0 && unix_bind);
            if !valid {
                report(
                    gateway,
                    format!("{field}.port.number"),
                    &format!("port number {number} must be in the range 1..65535"),
                    "give the server a port number from 1 to 65535",
                );
            }
        }
        let lower = protocol.to_ascii_lowercase();
        if !PROTOCOLS.contains(&lower.as_str()) {
            report(
                gateway,
                format!("{field}.port.protocol"),
                &format!(
                    "invalid protocol {protocol:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"
                ),
                "set the port's protocol: HTTP, HTTPS, HTTP2, GRPC, TLS, TCP, …",
            );
        } else if matches!(lower.as_str(), "https" | "tls") && !server["tls"].is_object() {
            report(
                gateway,
                format!("{field}.tls"),
                "server must have TLS settings for HTTPS/TLS protocols",
                "add tls: {mode: SIMPLE, credentialName: …} (or mode: PASSTHROUGH)",
            );
        }
        if let Some(name) = port["name"].as_str()
            && !port_names.insert(name)
        {
            report(
                gateway,
                format!("{field}.port.name"),
                &format!("port names in servers must be unique: duplicate name {name}"),
                "give each server's port its own name",
            );
        }
    }
}

fn virtual_service_rules(vs: &InputObject, report: &mut Report<'_>) {
    virtual_service_hosts(vs, report);
    for (i, rule) in items(&vs.spec()["http"]).iter().enumerate() {
        let field = format!("spec.http[{i}]");
        let has = |key: &str| match &rule[key] {
            Value::Null => false,
            Value::Array(a) => !a.is_empty(),
            _ => true,
        };
        if !(has("route") || has("redirect") || has("directResponse") || has("delegate")) {
            report(
                vs,
                field.clone(),
                "HTTP route, redirect or direct_response is required",
                "give the rule a route, a redirect or a directResponse",
            );
        }
        if has("route") && has("redirect") {
            report(
                vs,
                field.clone(),
                "HTTP route cannot contain both route and redirect",
                "keep either the route or the redirect",
            );
        }
        if has("route") && has("directResponse") {
            report(
                vs,
                field.clone(),
                "HTTP route cannot contain both route and direct_response",
                "keep either the route or the directResponse",
            );
        }
        if has("mirror") && has("mirrors") {
            report(
                vs,
                field,
                "HTTP route cannot contain both mirror and mirrors",
                "list every mirror under mirrors",
            );
        }
    }
    for (list, what) in [("tcp", "TCP"), ("tls", "TLS")] {
        for (i, rule) in items(&vs.spec()[list]).iter().enumerate() {
            if items(&rule["route"]).is_empty() {
                report(
                    vs,
                    format!("spec.{list}[{i}]"),
                    &format!("{what} route is required"),
                    "give the rule a route",
                );
            }
        }
    }
}

/// Hosts, and what a VirtualService must have: a rule, and for sidecars no `*` host
/// and no routing on JWT claims (only gateways validate tokens).
fn virtual_service_hosts(vs: &InputObject, report: &mut Report<'_>) {
    let spec = vs.spec();
    let hosts = strings(&spec["hosts"]);
    let gateways = strings(&spec["gateways"]);
    if hosts.is_empty() {
        // A delegate: only HTTP routes, bound where its parent is.
        for (key, text) in [
            (
                "gateways",
                "delegate virtual service must have no gateways specified",
            ),
            (
                "tls",
                "delegate virtual service must have no tls route specified",
            ),
            (
                "tcp",
                "delegate virtual service must have no tcp route specified",
            ),
        ] {
            if !items(&spec[key]).is_empty() {
                report(
                    vs,
                    format!("spec.{key}"),
                    text,
                    "give the VirtualService hosts, or remove the field from the delegate",
                );
            }
        }
    }
    let applies_to_mesh = gateways.is_empty() || gateways.contains(&MESH_GATEWAY);
    if applies_to_mesh {
        if hosts.contains(&"*") {
            report(
                vs,
                "spec.hosts".to_string(),
                "wildcard host * is not allowed for virtual services bound to the mesh gateway",
                "name the hosts, or bind the VirtualService to a gateway only",
            );
        }
        for (i, rule) in items(&spec["http"]).iter().enumerate() {
            for (j, m) in items(&rule["match"]).iter().enumerate() {
                for list in ["headers", "withoutHeaders"] {
                    let claims = m[list]
                        .as_object()
                        .into_iter()
                        .flat_map(|h| h.keys())
                        .filter(|k| is_jwt_claim(k));
                    for key in claims {
                        report(
                            vs,
                            format!("spec.http[{i}].match[{j}].{list}.{key}"),
                            &format!(
                                "JWT claim based routing (key: {key}) is only supported for gateway, found no gateways: [{}]",
                                gateways.join(" ")
                            ),
                            "route on JWT claims in a VirtualService bound to a gateway, whose RequestAuthentication validates the token",
                        );
                    }
                }
            }
        }
    }
    for (i, a) in hosts.iter().enumerate() {
        for b in &hosts[i + 1..] {
            if hosts_overlap(a, b) {
                report(
                    vs,
                    "spec.hosts".to_string(),
                    &format!("duplicate hosts in virtual service: {a} & {b}"),
                    "list each host once",
                );
            }
        }
    }
    if ["http", "tcp", "tls"]
        .iter()
        .all(|k| items(&spec[*k]).is_empty())
    {
        report(
            vs,
            "spec".to_string(),
            "http, tcp or tls must be provided in virtual service",
            "add an http, tcp or tls rule",
        );
    }
}

#[cfg(test)]
pub(crate) mod tests;
