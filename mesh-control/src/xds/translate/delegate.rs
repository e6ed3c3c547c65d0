//! VirtualService delegation: a root rule with `delegate` hands its traffic to the
//! `http` rules of another VirtualService, each delegate match narrowed by the root
//! rule's (Istio merges them the same way; one level only).

use std::collections::BTreeMap;

use mesh_api::networking::{HttpMatchRequest, HttpRoute, VirtualService};
use mesh_api::object::{Kind, MeshObject, ObjectRef};
use mesh_api::string_match::StringMatch;

use super::scope::ProxyScope;

/// A rule to translate: the rule, the namespace its hosts resolve in, and its matches
/// (`None` for a rule without matches, which matches everything).
#[derive(Debug)]
pub(crate) struct FlatRule<'m> {
    pub(crate) rule: &'m HttpRoute,
    pub(crate) namespace: String,
    pub(crate) matches: Vec<Option<HttpMatchRequest>>,
}

/// The VirtualService's HTTP rules with delegating rules replaced by the delegate's
/// rules. A delegate that does not exist contributes nothing (Istio: no routes).
pub(crate) fn flatten<'m>(
    scope: &ProxyScope<'m>,
    namespace: &str,
    vs: &'m VirtualService,
) -> Vec<FlatRule<'m>> {
    let mut out = Vec::new();
    for rule in &vs.spec.http {
        let root_matches = own_matches(rule);
        let Some(delegate) = &rule.delegate else {
            out.push(FlatRule {
                rule,
                namespace: namespace.to_string(),
                matches: root_matches,
            });
            continue;
        };
        let Some(name) = delegate.name.clone() else {
            continue;
        };
        let target = ObjectRef {
            kind: Kind::VirtualService,
            namespace: delegate
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_string()),
            name,
        };
        let Some(MeshObject::VirtualService(child)) = scope.model.object(&target) else {
            continue;
        };
        // Only one level: a delegate's own delegating rules are ignored.
        for child_rule in child.spec.http.iter().filter(|r| r.delegate.is_none()) {
            let matches = root_matches
                .iter()
                .flat_map(|root| {
                    own_matches(child_rule)
                        .into_iter()
                        .filter_map(move |child| merge(root.as_ref(), child))
                })
                .collect();
            out.push(FlatRule {
                rule: child_rule,
                namespace: target.namespace.clone(),
                matches,
            });
        }
    }
    out
}

fn own_matches(rule: &HttpRoute) -> Vec<Option<HttpMatchRequest>> {
    if rule.r#match.is_empty() {
        vec![None]
    } else {
        rule.r#match.iter().cloned().map(Some).collect()
    }
}

/// The conjunction of a root match and a delegate match; `None` when they conflict
/// (a delegate match outside the root's `uri`, or two different values of a field).
/// `Some(None)` stands for "matches everything".
fn merge(
    root: Option<&HttpMatchRequest>,
    child: Option<HttpMatchRequest>,
) -> Option<Option<HttpMatchRequest>> {
    let Some(root) = root else {
        return Some(child);
    };
    let Some(mut out) = child else {
        return Some(Some(root.clone()));
    };
    out.uri = match (&root.uri, out.uri.take()) {
        (Some(r), Some(c)) if !within(r, &c) => return None,
        (_, Some(c)) => Some(c),
        (r, None) => r.clone(),
    };
    out.scheme = same(&root.scheme, out.scheme.take())?;
    out.method = same(&root.method, out.method.take())?;
    out.authority = same(&root.authority, out.authority.take())?;
    out.port = same(&root.port, out.port.take())?;
    out.source_namespace = same(&root.source_namespace, out.source_namespace.take())?;
    union(&mut out.headers, &root.headers)?;
    union(&mut out.without_headers, &root.without_headers)?;
    union(&mut out.query_params, &root.query_params)?;
    union(&mut out.source_labels, &root.source_labels)?;
    if out.gateways.is_empty() {
        out.gateways = root.gateways.clone();
    }
    out.ignore_uri_case =
        Some(root.ignore_uri_case == Some(true) || out.ignore_uri_case == Some(true))
            .filter(|v| *v);
    Some(Some(out))
}

/// Whether the delegate's `uri` match only matches paths the root's matches.
fn within(root: &StringMatch, child: &StringMatch) -> bool {
    match (root, child) {
        (StringMatch::Prefix(r), StringMatch::Prefix(c) | StringMatch::Exact(c)) => {
            c.starts_with(r)
        }
        (StringMatch::Present, _) => true,
        (r, c) => r == c,
    }
}

fn same<T: Clone + PartialEq>(root: &Option<T>, child: Option<T>) -> Option<Option<T>> {
    match (root, child) {
        (Some(r), Some(c)) if *r != c => None,
        (_, Some(c)) => Some(Some(c)),
        (r, None) => Some(r.clone()),
    }
}

fn union<V: Clone + PartialEq>(
    into: &mut BTreeMap<String, V>,
    from: &BTreeMap<String, V>,
) -> Option<()> {
    for (k, v) in from {
        match into.get(k) {
            Some(existing) if existing != v => return None,
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
    Some(())
}
