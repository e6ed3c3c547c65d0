//! Status conditions that say something is wrong (Istio's `ConditionAnalyzer`): a
//! controller already rejected or could not program the object.

use serde_json::Value;

use super::Context;
use super::codes;
use super::input::{InputKind, items};
use super::message::Message;
use crate::object::Kind;

/// Kinds whose conditions are read, with the condition types that are bad when `False`.
const NEGATIVE: [(InputKind, &[&str]); 7] = [
    (InputKind::Mesh(Kind::Service), &["istio.io/WaypointBound"]),
    (
        InputKind::Mesh(Kind::ServiceEntry),
        &["istio.io/WaypointBound"],
    ),
    (
        InputKind::Mesh(Kind::WorkloadEntry),
        &["istio.io/WaypointBound"],
    ),
    (
        InputKind::Mesh(Kind::AuthorizationPolicy),
        &["ZtunnelAccepted", "WaypointAccepted"],
    ),
    (
        InputKind::KubernetesGateway,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
    (
        InputKind::HttpRoute,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
    (
        InputKind::GrpcRoute,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
];

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for (kind, types) in NEGATIVE {
        for entry in cx.all(kind) {
            let status = &entry.value["status"];
            let (conditions, field): (Vec<&Value>, &str) = match kind {
                InputKind::HttpRoute | InputKind::GrpcRoute => (
                    items(&status["parents"])
                        .iter()
                        .flat_map(|p| items(&p["conditions"]))
                        .collect(),
                    "status.parents",
                ),
                _ => (
                    items(&status["conditions"]).iter().collect(),
                    "status.conditions",
                ),
            };
            for condition in conditions {
                let kind_of = condition["type"].as_str().unwrap_or_default();
                let reason = condition["reason"].as_str().unwrap_or_default();
                let negative = types.contains(&kind_of) && condition["status"] == "False";
                // A waypoint that accepted only part of a policy says so with status True.
                let partial = kind == InputKind::Mesh(Kind::AuthorizationPolicy)
                    && kind_of == "WaypointAccepted"
                    && reason == "PartiallyInvalid";
                if negative || partial {
                    out.push(cx.message(
                        codes::NEGATIVE_CONDITION_STATUS,
                        entry,
                        Some(field.to_string()),
                        format!(
                            "A condition with a negative status is present: type={kind_of}, reason={reason}, message={}.",
                            condition["message"].as_str().unwrap_or_default()
                        ),
                        "correct what the condition's message says; the controller updates the status when it is fixed",
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
