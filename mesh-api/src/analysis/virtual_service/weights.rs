//! Route weights: several destinations whose weights are all zero send traffic nowhere
//! (an error of Istio's validation, so IST0106); mesh's own check that weights add up
//! to 100, so that each reads as the percentage it gets.

use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, items};
use crate::analysis::message::Message;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        for list in ["http", "tcp", "tls"] {
            for (i, rule) in items(&vs.spec()[list]).iter().enumerate() {
                let weights: Vec<i64> = items(&rule["route"])
                    .iter()
                    .map(|d| d["weight"].as_i64().unwrap_or(0))
                    .collect();
                // A single destination takes all traffic whatever its weight says.
                if weights.len() < 2 {
                    continue;
                }
                let total: i64 = weights.iter().sum();
                let shown = weights
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join("+");
                let field = format!("spec.{list}[{i}].route");
                if total == 0 {
                    out.push(cx.message(
                        codes::SCHEMA_VALIDATION_ERROR,
                        vs,
                        field,
                        "total destination weight = 0",
                        "give at least one destination a positive weight (weights are percentages adding up to 100)",
                    ));
                } else if total != 100 {
                    out.push(cx.message(
                        codes::ROUTE_WEIGHTS_DO_NOT_ADD_UP,
                        vs,
                        field,
                        format!("route weights add up to {total} ({shown}), not 100; traffic is split in proportion to them"),
                        "make the weights add up to 100 so that each one reads as the percentage it gets",
                    ));
                }
            }
        }
    }
}
