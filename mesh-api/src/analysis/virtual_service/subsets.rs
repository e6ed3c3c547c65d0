//! A destination's subset is defined by a DestinationRule for its host (Istio's
//! `DestinationRuleAnalyzer`). Checked whether or not the host exists: both mistakes
//! are worth saying.

use std::collections::BTreeSet;

use super::destinations;
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::hosts::host_resource_name;
use crate::analysis::input::{InputKind, items};
use crate::analysis::message::Message;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    let mut defined: BTreeSet<((String, String), String)> = BTreeSet::new();
    for dr in cx.all(InputKind::Mesh(Kind::DestinationRule)) {
        let host = dr.spec()["host"].as_str().unwrap_or_default();
        let name = host_resource_name(cx, &dr.namespace, host);
        for subset in items(&dr.spec()["subsets"]) {
            if let Some(s) = subset["name"].as_str() {
                defined.insert((name.clone(), s.to_string()));
            }
        }
    }
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        for d in destinations(vs) {
            let Some(subset) = d.subset() else {
                continue;
            };
            let name = host_resource_name(cx, &vs.namespace, d.host());
            if defined.contains(&(name.clone(), subset.to_string())) {
                continue;
            }
            let what = if d.is_mirror {
                "mirror+subset"
            } else {
                "host+subset"
            };
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                vs,
                format!("{}.subset", d.field),
                format!(
                    "Referenced {what} in destinationrule not found: \"{}+{subset}\"",
                    d.host()
                ),
                format!(
                    "define subset {subset:?} in a DestinationRule in namespace {:?} with host {:?}, or correct the subset",
                    name.0,
                    d.host()
                ),
            ));
        }
    }
}
