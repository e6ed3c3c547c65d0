//! ServiceEntry analyzers: TCP ports need addresses unless the mesh allocates them
//! (Istio's `ProtocolAddressesAnalyzer`); entries visible in the same namespace must
//! not give one host and port two protocols (`ConflictingServiceEntryProtocolAnalyzer`).

use std::collections::{BTreeMap, BTreeSet};

use super::Context;
use super::codes;
use super::hosts::{EXPORT_TO_ALL, export_scopes};
use super::input::{InputKind, InputObject, items, strings};
use super::message::Message;
use crate::object::Kind;

const SERVICE_ENTRY: InputKind = InputKind::Mesh(Kind::ServiceEntry);

/// (namespace an entry is visible in, or `*`; host; port).
type ScopedHostPort = (String, String, u64);

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    addresses(cx, out);
    protocols(cx, out);
}

fn addresses(cx: &Context<'_>, out: &mut Vec<Message>) {
    if cx.options.mesh_config.addresses_auto_allocated {
        return;
    }
    for se in cx.all(SERVICE_ENTRY) {
        let has_addresses = !items(&se.spec()["addresses"]).is_empty()
            || !items(&se.value["status"]["addresses"]).is_empty();
        if has_addresses {
            continue;
        }
        for (i, port) in items(&se.spec()["ports"]).iter().enumerate() {
            let protocol = port["protocol"].as_str().unwrap_or_default();
            if protocol.is_empty() || protocol.eq_ignore_ascii_case("TCP") {
                out.push(cx.message(
                    codes::SERVICE_ENTRY_ADDRESSES_REQUIRED,
                    se,
                    format!("spec.ports[{i}]"),
                    "ServiceEntry addresses are required for this protocol.",
                    "set spec.addresses (a virtual IP for the hosts), or give the port a protocol the proxy can route by name (HTTP, TLS, …)",
                ));
            }
        }
    }
}

fn protocols(cx: &Context<'_>, out: &mut Vec<Message>) {
    // (scope, host, port) → (protocol, entry) of every definition.
    let mut index: BTreeMap<ScopedHostPort, Vec<(String, &InputObject)>> = BTreeMap::new();
    for se in cx.unique(SERVICE_ENTRY) {
        let scopes = export_scopes(&se.namespace, &strings(&se.spec()["exportTo"]));
        for scope in &scopes {
            for host in strings(&se.spec()["hosts"]) {
                for port in items(&se.spec()["ports"]) {
                    let number = port["number"].as_u64().unwrap_or(0);
                    let protocol = port["protocol"]
                        .as_str()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    index
                        .entry((scope.clone(), host.to_string(), number))
                        .or_default()
                        .push((protocol, se));
                }
            }
        }
    }
    let mut reported: BTreeSet<String> = BTreeSet::new();
    for ((scope, host, port), entries) in &index {
        let mut entries = entries.clone();
        if scope != EXPORT_TO_ALL
            && let Some(everywhere) = index.get(&(EXPORT_TO_ALL.to_string(), host.clone(), *port))
        {
            entries.extend(everywhere.iter().cloned());
        }
        let protocols: BTreeSet<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
        if protocols.len() < 2 {
            continue;
        }
        let names: BTreeSet<String> = entries.iter().map(|(_, e)| e.full_name()).collect();
        let names = names.into_iter().collect::<Vec<_>>().join(", ");
        let protocols = protocols.into_iter().collect::<Vec<_>>().join(", ");
        for (_, se) in &entries {
            if !reported.insert(se.origin()) {
                continue;
            }
            out.push(cx.message(
                codes::CONFLICTING_SERVICE_ENTRY_PROTOCOL,
                se,
                Some("metadata.name".to_string()),
                format!(
                    "Multiple ServiceEntries ({names}) define the same host {host:?} and port {port} with conflicting protocols ({protocols})."
                ),
                "give the port one protocol in every ServiceEntry of the host, or keep the entries apart with exportTo",
            ));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
