//! VirtualService analyzers: destinations, subsets and gateways exist; VirtualServices
//! bound to sidecars do not claim the same host; no rule is hidden behind earlier
//! ones; JWT claim routing has a RequestAuthentication; and mesh's own checks of
//! weights and retries.

use serde_json::Value;

use super::Context;
use super::input::{InputObject, items};
use super::message::Message;

mod conflicts;
mod destinations;
mod gateways;
mod jwt_claims;
mod retries;
mod rules;
mod subsets;
mod weights;

/// The gateway name that binds a VirtualService to sidecars.
pub(crate) const MESH_GATEWAY: &str = "mesh";

pub(crate) use gateways::hosts_overlap;
pub(crate) use jwt_claims::is_jwt_claim;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    destinations::analyze(cx, out);
    subsets::analyze(cx, out);
    gateways::analyze(cx, out);
    conflicts::analyze(cx, out);
    rules::analyze(cx, out);
    jwt_claims::analyze(cx, out);
    weights::analyze(cx, out);
    retries::analyze(cx, out);
}

/// A destination of a VirtualService and the field that holds it.
#[derive(Debug)]
pub(crate) struct Routed<'v> {
    /// `spec.http[0].route[1].destination`, `spec.http[0].mirror`, …
    pub(crate) field: String,
    pub(crate) destination: &'v Value,
    pub(crate) is_mirror: bool,
}

impl Routed<'_> {
    pub(crate) fn host(&self) -> &str {
        self.destination["host"].as_str().unwrap_or_default()
    }

    pub(crate) fn subset(&self) -> Option<&str> {
        self.destination["subset"]
            .as_str()
            .filter(|s| !s.is_empty())
    }
}

/// Route destinations in Istio's order (tcp, tls, http), then http mirrors.
pub(crate) fn destinations(vs: &InputObject) -> Vec<Routed<'_>> {
    let spec = vs.spec();
    let mut found = Vec::new();
    for list in ["tcp", "tls", "http"] {
        for (i, rule) in items(&spec[list]).iter().enumerate() {
            for (j, route) in items(&rule["route"]).iter().enumerate() {
                found.push(Routed {
                    field: format!("spec.{list}[{i}].route[{j}].destination"),
                    destination: &route["destination"],
                    is_mirror: false,
                });
            }
        }
    }
    for (i, rule) in items(&spec["http"]).iter().enumerate() {
        if rule["mirror"].is_object() {
            found.push(Routed {
                field: format!("spec.http[{i}].mirror"),
                destination: &rule["mirror"],
                is_mirror: true,
            });
        }
        for (j, mirror) in items(&rule["mirrors"]).iter().enumerate() {
            found.push(Routed {
                field: format!("spec.http[{i}].mirrors[{j}].destination"),
                destination: &mirror["destination"],
                is_mirror: true,
            });
        }
    }
    found
}

#[cfg(test)]
pub(crate) mod tests;
