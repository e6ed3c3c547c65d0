//! Two gateways on the same workloads serving the same certificate: a client reusing an
//! HTTP/2 connection for the other gateway's hosts gets 404s.

use serde_json::Value;

use super::{GATEWAY, selector};
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::items;
use crate::analysis::labels::Labels;
use crate::analysis::message::Message;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let gateways: Vec<_> = cx.unique(GATEWAY).collect();
    for gateway in &gateways {
        let own = selector(gateway);
        for other in &gateways {
            if std::ptr::eq(*gateway, *other) || !subset(&own, &selector(other)) {
                continue;
            }
            let shared = items(&gateway.spec()["servers"]).iter().any(|a| {
                items(&other.spec()["servers"])
                    .iter()
                    .any(|b| same_certificate(&a["tls"], &b["tls"]))
            });
            if shared {
                out.push(cx.message(
                    codes::GATEWAY_DUPLICATE_CERTIFICATE,
                    gateway,
                    Some("metadata.name".to_string()),
                    format!(
                        "Duplicate certificate in multiple gateways [{} {}] may cause 404s if clients re-use HTTP2 connections.",
                        gateway.full_name(),
                        other.full_name()
                    ),
                    "serve the hosts of both gateways from one server with that certificate, or use a certificate per gateway",
                ));
            }
        }
    }
}

/// Whether every label of `a` is in `b` with the same value (an empty `a` is in every
/// selector).
fn subset(a: &Labels, b: &Labels) -> bool {
    a.iter().all(|(k, v)| b.get(k) == Some(v))
}

fn same_certificate(a: &Value, b: &Value) -> bool {
    if !a.is_object() || !b.is_object() {
        return false;
    }
    let text = |v: &Value, key: &str| {
        v[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match (text(a, "credentialName"), text(b, "credentialName")) {
        (Some(x), Some(y)) => x == y,
        (None, None) => {
            matches!((text(a, "serverCertificate"), text(b, "serverCertificate")), (Some(x), Some(y)) if x == y)
                && matches!((text(a, "privateKey"), text(b, "privateKey")), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}
