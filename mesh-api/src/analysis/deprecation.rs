//! Deprecated fields and kinds (Istio's `deprecation.FieldAnalyzer` and
//! `telemetry.LightstepAnalyzer`).

use super::Context;
use super::codes;
use super::input::{InputKind, items};
use super::message::Message;
use crate::object::Kind;

/// rbac.istio.io kinds, removed in favour of AuthorizationPolicy.
const REMOVED_KINDS: [&str; 4] = [
    "ClusterRbacConfig",
    "RbacConfig",
    "ServiceRole",
    "ServiceRoleBinding",
];

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        let field = items(&vs.spec()["http"])
            .iter()
            .enumerate()
            .find_map(|(i, rule)| {
                let percent = rule["fault"]["delay"]["percent"].as_i64().unwrap_or(0);
                (percent > 0).then(|| format!("spec.http[{i}].fault.delay.percent"))
            });
        if let Some(field) = field {
            out.push(cx.message(
                codes::DEPRECATED,
                vs,
                field,
                "Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
                "write percentage: {value: N} instead of percent: N",
            ));
        }
    }
    for sidecar in cx.all(InputKind::Mesh(Kind::Sidecar)) {
        if !sidecar.spec()["outboundTrafficPolicy"]["egressProxy"].is_null() {
            out.push(cx.message(
                codes::DEPRECATED,
                sidecar,
                Some("spec.outboundTrafficPolicy.egressProxy".to_string()),
                "Deprecated: OutboundTrafficPolicy.EgressProxy ignored",
                "route outbound traffic through an egress gateway with a VirtualService instead",
            ));
        }
    }
    for crd in cx.all(InputKind::CustomResourceDefinition) {
        let group = crd.spec()["group"].as_str().unwrap_or_default();
        let kind = crd.spec()["names"]["kind"].as_str().unwrap_or_default();
        if group == "rbac.istio.io" && REMOVED_KINDS.contains(&kind) {
            out.push(cx.message(
                codes::DEPRECATED,
                crd,
                Some("spec.names.kind".to_string()),
                format!("Deprecated: Custom resource type {group} {kind} is removed"),
                "delete the CRD and its objects; AuthorizationPolicy replaces them",
            ));
        }
    }
    let lightstep = &cx.options.mesh_config.lightstep_providers;
    if lightstep.is_empty() {
        return;
    }
    for telemetry in cx.all(InputKind::Telemetry) {
        for (i, tracing) in items(&telemetry.spec()["tracing"]).iter().enumerate() {
            for (j, provider) in items(&tracing["providers"]).iter().enumerate() {
                let Some(name) = provider["name"].as_str() else {
                    continue;
                };
                if lightstep.iter().any(|l| l == name) {
                    out.push(cx.message(
                        codes::DEPRECATED,
                        telemetry,
                        format!("spec.tracing[{i}].providers[{j}]"),
                        format!("Deprecated: The Lightstep provider {name} is deprecated, please migrate to OpenTelemetry provider."),
                        "define an opentelemetry extension provider and trace to it",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
