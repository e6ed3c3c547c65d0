//! Routing on JWT claims (`@request.auth.claims.<name>` headers) at a gateway needs a
//! RequestAuthentication for the gateway's pods: without one no token is validated,
//! no claim is known, and the route never matches (Istio's `JWTClaimRouteAnalyzer`).

use super::MESH_GATEWAY;
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, InputObject, items, string_map, strings};
use crate::analysis::labels::selects;
use crate::analysis::message::Message;
use crate::object::Kind;

const CLAIM_HEADER: &str = "@request.auth.claims";

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        let Some((field, key)) = claim_key(vs) else {
            continue;
        };
        for reference in strings(&vs.spec()["gateways"]) {
            if reference == MESH_GATEWAY {
                continue;
            }
            let (namespace, name) = reference
                .split_once('/')
                .unwrap_or((vs.namespace.as_str(), reference));
            // A missing gateway is the gateway analyzer's to report.
            let Some(gateway) = cx.find(InputKind::Mesh(Kind::Gateway), namespace, name) else {
                continue;
            };
            let selector = string_map(&gateway.spec()["selector"]);
            for pod in cx.unique(InputKind::Pod) {
                let labels = pod.labels();
                if !selects(&selector, &labels) || authenticated(cx, pod) {
                    continue;
                }
                out.push(cx.message(
                    codes::JWT_CLAIM_BASED_ROUTING_WITHOUT_REQUEST_AUTHN,
                    vs,
                    field.clone(),
                    format!(
                        "The virtual service uses the JWT claim based routing (key: {key}) but found no request authentication for the gateway ({namespace}/{name}) pod ({}). The request authentication must first be applied for the gateway pods to validate the JWT token and make the claims available for routing.",
                        pod.name
                    ),
                    format!(
                        "apply a RequestAuthentication selecting the gateway's pods in namespace {:?} or {:?}",
                        pod.namespace,
                        cx.root_namespace()
                    ),
                ));
            }
        }
    }
}

/// The first header match on a JWT claim, and where it is.
fn claim_key(vs: &InputObject) -> Option<(String, String)> {
    for (i, rule) in items(&vs.spec()["http"]).iter().enumerate() {
        for (j, m) in items(&rule["match"]).iter().enumerate() {
            for list in ["headers", "withoutHeaders"] {
                let Some(headers) = m[list].as_object() else {
                    continue;
                };
                if let Some(key) = headers.keys().find(|k| is_jwt_claim(k)) {
                    return Some((
                        format!("spec.http[{i}].match[{j}].{list}.{key}"),
                        key.clone(),
                    ));
                }
            }
        }
    }
    None
}

/// `@request.auth.claims.a.b` or `@request.auth.claims[a][b]`.
pub(crate) fn is_jwt_claim(header: &str) -> bool {
    let lower = header.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(CLAIM_HEADER) else {
        return false;
    };
    (rest.starts_with('.') && rest.len() > 1)
        || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

/// Whether a RequestAuthentication in the pod's namespace or the root namespace
/// selects the pod.
fn authenticated(cx: &Context<'_>, pod: &InputObject) -> bool {
    let labels = pod.labels();
    cx.unique(InputKind::Mesh(Kind::RequestAuthentication))
        .filter(|ra| ra.namespace == pod.namespace || ra.namespace == cx.root_namespace())
        .any(|ra| selects(&string_map(&ra.spec()["selector"]["matchLabels"]), &labels))
}
