//! VirtualServices bound to sidecars (the `mesh` gateway) must not define the same
//! host where both are visible: which one wins is undefined (Istio's
//! `ConflictingMeshGatewayHostsAnalyzer`).

use std::collections::{BTreeMap, BTreeSet};

use super::MESH_GATEWAY;
use super::gateways::hosts_overlap;
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::hosts::{EXPORT_TO_ALL, export_scopes, to_fqdn};
use crate::analysis::input::{InputKind, InputObject, strings};
use crate::analysis::message::Message;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    // (scope, fqdn) → VirtualServices defining it, in input order.
    let mut by_host: BTreeMap<(String, String), Vec<&InputObject>> = BTreeMap::new();
    for vs in cx.unique(InputKind::Mesh(Kind::VirtualService)) {
        let gateways = strings(&vs.spec()["gateways"]);
        if !gateways.is_empty() && !gateways.contains(&MESH_GATEWAY) {
            continue;
        }
        let scopes = export_scopes(&vs.namespace, &strings(&vs.spec()["exportTo"]));
        for scope in scopes {
            for host in strings(&vs.spec()["hosts"]) {
                by_host
                    .entry((scope.clone(), to_fqdn(&vs.namespace, host)))
                    .or_default()
                    .push(vs);
            }
        }
    }
    let mut reported: BTreeSet<(String, String)> = BTreeSet::new();
    for ((scope, fqdn), defining) in &by_host {
        let mut conflicting = defining.clone();
        if scope != EXPORT_TO_ALL {
            // VirtualServices visible everywhere conflict with this namespace's too.
            for ((other_scope, other_fqdn), others) in &by_host {
                if other_scope == EXPORT_TO_ALL && hosts_overlap(fqdn, other_fqdn) {
                    conflicting.extend(others.iter().copied());
                }
            }
        }
        if conflicting.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = conflicting.iter().map(|e| e.full_name()).collect();
        names.sort();
        let names = names.join(",");
        for vs in conflicting {
            if !reported.insert((vs.namespace.clone(), vs.name.clone())) {
                continue;
            }
            out.push(cx.message(
                codes::CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
                vs,
                Some("metadata.name".to_string()),
                format!(
                    "The VirtualServices {names} associated with mesh gateway define the same host {scope}/{fqdn} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource."
                ),
                "merge the VirtualServices into one, or narrow their exportTo so that no namespace sees both",
            ));
        }
    }
}
