//! The gateway's pods exist, and a Service selecting them exposes each server port as
//! a target port (or port).

use std::collections::BTreeSet;

use super::{GATEWAY, selected_pods, selector, selector_not_found};
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, items, string_map};
use crate::analysis::labels::{selector_string, selects};
use crate::analysis::message::Message;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for gateway in cx.all(GATEWAY) {
        let pods = selected_pods(cx, gateway);
        if pods.is_empty() {
            out.push(selector_not_found(cx, gateway));
            continue;
        }
        let mut exposed: BTreeSet<u64> = BTreeSet::new();
        for pod in &pods {
            let labels = pod.labels();
            for svc in cx.unique(InputKind::Mesh(Kind::Service)) {
                if svc.namespace != pod.namespace
                    || !selects(&string_map(&svc.spec()["selector"]), &labels)
                {
                    continue;
                }
                for port in items(&svc.spec()["ports"]) {
                    if port["protocol"].as_str().is_some_and(|p| p != "TCP") {
                        continue;
                    }
                    let number = port["port"].as_u64().unwrap_or(0);
                    let target = port["targetPort"]
                        .as_u64()
                        .or_else(|| port["targetPort"].as_str()?.parse().ok())
                        .unwrap_or(0);
                    exposed.insert(number);
                    if target != 0 {
                        exposed.insert(target);
                    }
                }
            }
        }
        let selector = selector_string(&selector(gateway));
        for (i, server) in items(&gateway.spec()["servers"]).iter().enumerate() {
            let Some(number) = server["port"]["number"].as_u64() else {
                continue;
            };
            if exposed.contains(&number) {
                continue;
            }
            out.push(cx.message(
                codes::GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
                gateway,
                format!("spec.servers[{i}].port.number"),
                format!(
                    "The gateway is listening on a target port (port {number}) that is not defined in the Service associated with its workload instances (Pod selector {selector}). If you need to access the gateway port through the gateway Service, it will not be available."
                ),
                format!("add a port with targetPort {number} to the gateway's Service, or listen on a port it exposes"),
            ));
        }
    }
}
