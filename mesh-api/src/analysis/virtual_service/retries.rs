//! mesh's own: retries must fit in the route's timeout. The timeout bounds the whole
//! request, retries included, so tries that do not fit are never made.

use std::time::Duration as StdDuration;

use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, items};
use crate::analysis::message::Message;
use crate::duration::Duration;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        for (i, rule) in items(&vs.spec()["http"]).iter().enumerate() {
            let Some(timeout) = duration(&rule["timeout"]).filter(|t| !t.is_zero()) else {
                continue;
            };
            let retries = &rule["retries"];
            let attempts = retries["attempts"].as_u64().unwrap_or(0);
            let Some(per_try) = duration(&retries["perTryTimeout"]).filter(|t| !t.is_zero()) else {
                continue;
            };
            if attempts == 0 {
                continue;
            }
            let tries = attempts.saturating_add(1);
            let needed = per_try.saturating_mul(u32::try_from(tries).unwrap_or(u32::MAX));
            if needed <= timeout {
                continue;
            }
            let fit = timeout.as_nanos() / per_try.as_nanos().max(1);
            let text = if fit <= 1 {
                format!(
                    "retries never happen: perTryTimeout {} is not shorter than the route timeout {}, so the first try uses all of it",
                    show(per_try),
                    show(timeout)
                )
            } else {
                format!(
                    "{attempts} retries of perTryTimeout {} take up to {} with the first try, longer than the route timeout {}: at most {fit} tries fit",
                    show(per_try),
                    show(needed),
                    show(timeout)
                )
            };
            out.push(cx.message(
                codes::RETRIES_EXCEED_ROUTE_TIMEOUT,
                vs,
                format!("spec.http[{i}].retries"),
                text,
                format!(
                    "raise timeout to at least {}, or lower attempts or perTryTimeout",
                    show(needed)
                ),
            ));
        }
    }
}

fn duration(value: &serde_json::Value) -> Option<StdDuration> {
    value.as_str()?.parse::<Duration>().ok().map(|d| d.as_std())
}

fn show(d: StdDuration) -> String {
    Duration::from_std(d).to_string()
}
