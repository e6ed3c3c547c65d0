//! Two gateways on the same workloads with a server on the same port for the same host
//! (and bind address): which one serves it is undefined.

use std::collections::BTreeMap;

use super::{GATEWAY, selector, selector_not_found};
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, items, strings};
use crate::analysis::labels::{Labels, selector_string, selects};
use crate::analysis::message::Message;

/// A server's hosts, each with its bind address.
type HostBinds = BTreeMap<String, String>;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    // (selector, port) → gateway → the hosts of its (last) server on that port.
    let mut claims: BTreeMap<(String, u64), BTreeMap<String, HostBinds>> = BTreeMap::new();
    for gateway in cx.unique(GATEWAY) {
        let key_selector = selector_string(&selector(gateway));
        for server in items(&gateway.spec()["servers"]) {
            let port = server["port"]["number"].as_u64().unwrap_or(0);
            claims
                .entry((key_selector.clone(), port))
                .or_default()
                .insert(gateway.full_name(), host_binds(server));
        }
    }
    for gateway in cx.unique(GATEWAY) {
        let own = selector(gateway);
        let own_string = selector_string(&own);
        let same_workloads: Vec<&(String, u64)> = claims
            .keys()
            .filter(|(s, _)| *s == own_string || overlapping(cx, &own, &own_string, s))
            .collect();
        if !own_string.is_empty() && same_workloads.is_empty() {
            out.push(selector_not_found(cx, gateway));
            continue;
        }
        for (i, server) in items(&gateway.spec()["servers"]).iter().enumerate() {
            let port = server["port"]["number"].as_u64().unwrap_or(0);
            let mine = host_binds(server);
            let mut others: Vec<String> = Vec::new();
            for key in same_workloads.iter().filter(|(_, p)| *p == port) {
                for (name, theirs) in &claims[*key] {
                    let shared = mine.iter().any(|(h, bind)| theirs.get(h) == Some(bind));
                    if *name != gateway.full_name() && shared && !others.contains(name) {
                        others.push(name.clone());
                    }
                }
            }
            if others.is_empty() {
                continue;
            }
            others.sort();
            out.push(cx.message(
                codes::CONFLICTING_GATEWAYS,
                gateway,
                format!("spec.servers[{i}]"),
                format!(
                    "Conflict with gateways {} (workload selector {own_string}, port {port}, hosts {}).",
                    others.join(","),
                    strings(&server["hosts"]).join(",")
                ),
                "serve each host on a port from one gateway only: merge the servers into one Gateway, or give them different hosts",
            ));
        }
    }
}

fn host_binds(server: &serde_json::Value) -> HostBinds {
    let bind = server["bind"].as_str().unwrap_or_default().to_string();
    strings(&server["hosts"])
        .into_iter()
        .map(|h| (h.to_string(), bind.clone()))
        .collect()
}

/// Whether another selector (as printed) picks a pod this gateway picks: Istio only
/// compares selectors whose printed forms contain one another.
fn overlapping(cx: &Context<'_>, own: &Labels, own_string: &str, other: &str) -> bool {
    if !(other.contains(own_string) || own_string.contains(other)) {
        return false;
    }
    let other: Labels = other
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    cx.unique(InputKind::Pod).any(|p| {
        let labels = p.labels();
        selects(own, &labels) && selects(&other, &labels)
    })
}
