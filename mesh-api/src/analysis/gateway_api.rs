//! Gateway API: policies select Gateway API gateways' pods by label to no effect
//! (Istio's `k8sgateway.SelectorAnalyzer`), and installed Gateway API CRDs are recent
//! enough for Istio to process their kinds (`k8sgateway.CRDVersionAnalyzer`).

use super::Context;
use super::codes;
use super::input::{InputKind, string_map};
use super::labels::selects;
use super::message::Message;
use crate::object::Kind;

const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";
const BUNDLE_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";

/// The lowest Gateway API bundle version each CRD must have.
const MINIMUM_VERSIONS: [(&str, (u64, u64, u64)); 4] = [
    ("grpcroutes.gateway.networking.k8s.io", (1, 1, 0)),
    ("backendtlspolicies.gateway.networking.k8s.io", (1, 4, 0)),
    ("tlsroutes.gateway.networking.k8s.io", (1, 5, 0)),
    ("tcproutes.gateway.networking.k8s.io", (1, 6, 0)),
];

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    ineffective_selectors(cx, out);
    crd_versions(cx, out);
}

fn ineffective_selectors(cx: &Context<'_>, out: &mut Vec<Message>) {
    let gateway_pods: Vec<_> = cx
        .unique(InputKind::Pod)
        .filter(|p| p.label(GATEWAY_NAME_LABEL).is_some())
        .collect();
    if gateway_pods.is_empty() {
        return;
    }
    for kind in [
        InputKind::Mesh(Kind::AuthorizationPolicy),
        InputKind::Mesh(Kind::RequestAuthentication),
        InputKind::Telemetry,
        InputKind::WasmPlugin,
    ] {
        for policy in cx.all(kind) {
            let spec = policy.spec();
            if !spec["targetRef"].is_null() || spec["selector"].is_null() {
                continue;
            }
            let selector = string_map(&spec["selector"]["matchLabels"]);
            for pod in gateway_pods
                .iter()
                .filter(|p| p.namespace == policy.namespace)
            {
                let labels = pod.labels();
                if !selects(&selector, &labels) {
                    continue;
                }
                let gateway = labels.get(GATEWAY_NAME_LABEL).cloned().unwrap_or_default();
                out.push(cx.message(
                    codes::INEFFECTIVE_SELECTOR,
                    policy,
                    Some("spec.selector".to_string()),
                    format!("Ineffective selector on Kubernetes Gateway {gateway}. Use the TargetRef field instead."),
                    format!("replace the selector with targetRefs: [{{kind: Gateway, group: gateway.networking.k8s.io, name: {gateway}}}]"),
                ));
            }
        }
    }
}

fn crd_versions(cx: &Context<'_>, out: &mut Vec<Message>) {
    for crd in cx.all(InputKind::CustomResourceDefinition) {
        let Some((_, minimum)) = MINIMUM_VERSIONS.iter().find(|(name, _)| *name == crd.name) else {
            continue;
        };
        let Some(installed) = crd.annotation(BUNDLE_VERSION_ANNOTATION) else {
            continue;
        };
        let Some(version) = parse_version(installed) else {
            continue;
        };
        if version >= *minimum {
            continue;
        }
        let (a, b, c) = minimum;
        out.push(cx.message(
            codes::GATEWAY_API_CRD_VERSION_BELOW_MINIMUM,
            crd,
            Some(format!("metadata.annotations.{BUNDLE_VERSION_ANNOTATION}")),
            format!(
                "Gateway API CRD {:?} is at version {:?} but Istio requires at least \"{a}.{b}.{c}\"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.",
                crd.name,
                installed.trim_start_matches('v')
            ),
            format!("install Gateway API {a}.{b}.{c} or later (its standard or experimental channel)"),
        ));
    }
}

/// `v1.2.3`, `1.2.3-rc.1` (pre-release ignored), `1.2` → (major, minor, patch).
fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>());
    let major = parts.next()?.ok()?;
    let minor = parts.next().transpose().ok()?.unwrap_or(0);
    let patch = parts.next().transpose().ok()?.unwrap_or(0);
    parts.next().is_none().then_some((major, minor, patch))
}

#[cfg(test)]
pub(crate) mod tests;
