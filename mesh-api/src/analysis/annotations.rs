//! Istio annotations on Namespaces, Services, Pods and Deployments (Istio's
//! `annotations.K8sAnalyzer`): known, on a kind they apply to, not deprecated, with a
//! valid value; and, when asked (as `istioctl x precheck` does), not alpha-phase.

use super::Context;
use super::annotation_table::{ANNOTATIONS, KnownAnnotation};
use super::annotation_values::validate;
use super::codes;
use super::input::{InputKind, InputObject, items};
use super::message::Message;

/// Set by Istio itself: never reported.
const ALWAYS_IGNORED: [&str; 3] = [
    "sidecar.istio.io/status",
    "gateway.istio.io/controller-version",
    "istio.io/rev",
];

/// Set by the injector when the CNI plugin is not used: not reported as alpha on pods
/// without the `istio-init` container.
const SET_WITHOUT_CNI: [&str; 4] = [
    "sidecar.istio.io/interceptionMode",
    "traffic.sidecar.istio.io/includeInboundPorts",
    "traffic.sidecar.istio.io/excludeInboundPorts",
    "traffic.sidecar.istio.io/includeOutboundIPRanges",
];

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for kind in [
        InputKind::Namespace,
        InputKind::Mesh(crate::object::Kind::Service),
        InputKind::Pod,
        InputKind::Deployment,
    ] {
        for entry in cx.all(kind) {
            for (name, value) in entry.annotations() {
                if !is_istio_annotation(&name) || ALWAYS_IGNORED.contains(&name.as_str()) {
                    continue;
                }
                let field = format!("metadata.annotations.{name}");
                let known = ANNOTATIONS.iter().find(|a| a.name == name);
                if cx.options.alpha_annotations
                    && let Some(a) = known.filter(|a| a.alpha)
                {
                    alpha(cx, entry, a, &field, out);
                }
                let Some(known) = known else {
                    out.push(cx.message(
                        codes::UNKNOWN_ANNOTATION,
                        entry,
                        field,
                        format!("Unknown annotation: {name}"),
                        "correct the annotation's name (see istio.io/latest/docs/reference/config/annotations), or remove it",
                    ));
                    continue;
                };
                check(cx, entry, known, &value, &field, out);
            }
        }
    }
}

fn check(
    cx: &Context<'_>,
    entry: &InputObject,
    known: &KnownAnnotation,
    value: &str,
    field: &str,
    out: &mut Vec<Message>,
) {
    let name = known.name;
    let replaced_by_label = name == "sidecar.istio.io/inject";
    if known.deprecated && !(replaced_by_label && entry.label(name).is_some()) {
        let extra = if replaced_by_label {
            " in favor of the \"sidecar.istio.io/inject\" label"
        } else {
            ""
        };
        out.push(cx.message(
            codes::DEPRECATED_ANNOTATION,
            entry,
            field.to_string(),
            format!("Annotation {name:?} has been deprecated{extra} and may not work in future Istio versions."),
            if replaced_by_label {
                "use the sidecar.istio.io/inject label instead"
            } else {
                "remove the annotation; see Istio's annotation reference for its replacement"
            },
        ));
    }
    if known.resources.contains(&"Any") {
        return;
    }
    if !known.resources.contains(&entry.kind.as_str()) {
        out.push(cx.message(
            codes::MISPLACED_ANNOTATION,
            entry,
            field.to_string(),
            format!(
                "Misplaced annotation: {name} can only be applied to {}",
                known.resources.join(", ")
            ),
            if entry.kind == InputKind::Deployment && known.resources.contains(&"Pod") {
                "move the annotation to the pod template (spec.template.metadata.annotations)"
            } else {
                "move the annotation to an object of a kind it applies to"
            },
        ));
        return;
    }
    if let Err(problem) = validate(name, value) {
        out.push(cx.message(
            codes::INVALID_ANNOTATION,
            entry,
            field.to_string(),
            format!("Invalid annotation {name}: {problem}"),
            "correct the annotation's value",
        ));
    }
}

fn alpha(
    cx: &Context<'_>,
    entry: &InputObject,
    known: &KnownAnnotation,
    field: &str,
    out: &mut Vec<Message>,
) {
    let without_cni = entry.kind == InputKind::Pod
        && !items(&entry.spec()["initContainers"])
            .iter()
            .any(|c| c["name"] == "istio-init");
    if without_cni && SET_WITHOUT_CNI.contains(&known.name) {
        return;
    }
    out.push(cx.message(
        codes::ALPHA_ANNOTATION,
        entry,
        field.to_string(),
        format!(
            "Annotation {:?} is part of an alpha-phase feature and may be incompletely supported.",
            known.name
        ),
        "test the feature before relying on it in production",
    ));
}

/// Annotations under an `*istio.io` prefix, and `kubernetes.io/ingress.class`, which
/// Istio documents.
fn is_istio_annotation(name: &str) -> bool {
    name == "kubernetes.io/ingress.class"
        || name
            .split('/')
            .next()
            .is_some_and(|prefix| prefix.ends_with("istio.io"))
}

#[cfg(test)]
pub(crate) mod tests;
