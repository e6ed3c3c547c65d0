//! Gateway analyzers: the gateway's workload exists and its Service exposes the
//! gateway's ports (Istio's `IngressGatewayPortAnalyzer`), TLS credentials exist and
//! hold valid certificates (`SecretAnalyzer`), no certificate is served by two gateways
//! (`CertificateAnalyzer`), no two gateways claim the same port and host
//! (`ConflictingGatewayAnalyzer`).

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, string_map};
use super::labels::{Labels, selector_string, selects};
use super::message::Message;
use crate::object::Kind;

mod certificates;
mod conflicts;
mod ports;
mod secrets;

const GATEWAY: InputKind = InputKind::Mesh(Kind::Gateway);

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    ports::analyze(cx, out);
    secrets::analyze(cx, out);
    certificates::analyze(cx, out);
    conflicts::analyze(cx, out);
}

fn selector(gateway: &InputObject) -> Labels {
    string_map(&gateway.spec()["selector"])
}

/// The pods a gateway's selector picks, in any namespace (Istio does not limit a
/// gateway to its own namespace by default).
fn selected_pods<'a>(cx: &Context<'a>, gateway: &InputObject) -> Vec<&'a InputObject> {
    let selector = selector(gateway);
    cx.unique(InputKind::Pod)
        .filter(|p| selects(&selector, &p.labels()))
        .collect()
}

/// IST0101 for a gateway whose selector picks no pod.
fn selector_not_found(cx: &Context<'_>, gateway: &InputObject) -> Message {
    let selector = selector_string(&selector(gateway));
    cx.message(
        codes::REFERENCED_RESOURCE_NOT_FOUND,
        gateway,
        Some("spec.selector".to_string()),
        format!("Referenced selector not found: {selector:?}"),
        format!("deploy a gateway whose pods carry the labels {selector}, or correct the selector"),
    )
}

#[cfg(test)]
pub(crate) mod tests;
