//! Webhook configurations: Istio's injection webhooks do not overlap and call an
//! existing Service (Istio's `webhook.Analyzer`); webhooks of an external control plane
//! name it by a hostname (`ExternalControlPlaneAnalyzer`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, items};
use super::labels::{Labels, label_selector_matches};
use super::message::Message;
use crate::object::Kind;

const REVISION_LABEL: &str = "istio.io/rev";

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    overlaps_and_services(cx, out);
    external_control_plane(cx, out);
}

fn overlaps_and_services(cx: &Context<'_>, out: &mut Vec<Message>) {
    // `config/webhook` → (config, webhook).
    let mut webhooks: BTreeMap<String, (&InputObject, &Value)> = BTreeMap::new();
    let mut revisions: BTreeSet<String> = BTreeSet::new();
    for config in cx.unique(InputKind::MutatingWebhookConfiguration) {
        let hooks = items(&config.value["webhooks"]);
        let revs = config_revisions(config, hooks);
        let istio = hooks
            .iter()
            .any(|w| w["name"].as_str().is_some_and(|n| n.ends_with("istio.io")));
        if revs.is_empty() && !istio {
            continue;
        }
        revisions.extend(revs);
        for hook in hooks {
            let name = hook["name"].as_str().unwrap_or_default();
            webhooks.insert(format!("{}/{name}", config.name), (config, hook));
        }
    }
    let namespace_labels = permutations("istio-injection", "enabled", "disabled", &revisions);
    let object_labels = permutations("sidecar.istio.io/inject", "true", "false", &revisions);
    for ns in &namespace_labels {
        for object in &object_labels {
            let matches: Vec<&String> = webhooks
                .iter()
                .filter(|(_, (_, hook))| {
                    label_selector_matches(&hook["namespaceSelector"], ns)
                        && label_selector_matches(&hook["objectSelector"], object)
                })
                .map(|(name, _)| name)
                .collect();
            if matches.len() < 2 {
                continue;
            }
            for name in &matches {
                let others: Vec<&str> = matches
                    .iter()
                    .filter(|o| *o != name)
                    .map(|o| o.as_str())
                    .collect();
                out.push(cx.message(
                    codes::INVALID_WEBHOOK,
                    webhooks[*name].0,
                    Some("webhooks".to_string()),
                    format!("Webhook overlaps with others: [{}]. This may cause injection to occur twice.", others.join(" ")),
                    "make the webhooks' namespace and object selectors exclusive (one revision or tag per namespace)",
                ));
            }
        }
    }
    for (config, hook) in webhooks.values() {
        let service = &hook["clientConfig"]["service"];
        if service.is_null() {
            continue;
        }
        let namespace = service["namespace"].as_str().unwrap_or_default();
        let name = service["name"].as_str().unwrap_or_default();
        if cx
            .find(InputKind::Mesh(Kind::Service), namespace, name)
            .is_none()
        {
            out.push(cx.message(
                codes::INVALID_WEBHOOK,
                config,
                Some("webhooks".to_string()),
                format!("Injector refers to a control plane service that does not exist: {namespace}/{name}."),
                "install the control plane the webhook belongs to, or delete the stale webhook configuration",
            ));
        }
    }
}

/// Revisions a webhook configuration serves: its `istio.io/rev` label and the values its
/// selectors require of it.
fn config_revisions(config: &InputObject, hooks: &[Value]) -> BTreeSet<String> {
    let mut revs: BTreeSet<String> = config
        .label(REVISION_LABEL)
        .map(str::to_string)
        .into_iter()
        .collect();
    for hook in hooks {
        for selector in [&hook["namespaceSelector"], &hook["objectSelector"]] {
            if let Some(r) = selector["matchLabels"][REVISION_LABEL].as_str() {
                revs.insert(r.to_string());
            }
            for expression in items(&selector["matchExpressions"]) {
                if expression["key"] == REVISION_LABEL {
                    revs.extend(
                        items(&expression["values"])
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string),
                    );
                }
            }
        }
    }
    revs
}

/// No label, `key=on`, `key=off`, and each of those with each revision's label.
fn permutations(key: &str, on: &str, off: &str, revisions: &BTreeSet<String>) -> Vec<Labels> {
    let base: Vec<Labels> = vec![
        Labels::new(),
        Labels::from([(key.to_string(), on.to_string())]),
        Labels::from([(key.to_string(), off.to_string())]),
    ];
    let mut all = base.clone();
    for rev in revisions {
        for b in &base {
            let mut l = b.clone();
            l.insert(REVISION_LABEL.to_string(), rev.clone());
            all.push(l);
        }
    }
    all
}

fn external_control_plane(cx: &Context<'_>, out: &mut Vec<Message>) {
    let validating = cx
        .all(InputKind::ValidatingWebhookConfiguration)
        .filter(|c| c.name == "istiod-default-validator" || c.name.starts_with("istio-validator"));
    let mutating = cx
        .all(InputKind::MutatingWebhookConfiguration)
        .filter(|c| c.name.starts_with("istio-sidecar-injector"));
    for config in validating.chain(mutating) {
        for (i, hook) in items(&config.value["webhooks"]).iter().enumerate() {
            let name = hook["name"].as_str().unwrap_or_default();
            let client = &hook["clientConfig"];
            let field = format!("webhooks[{i}].clientConfig");
            let invalid = |url: &str, problem: &str| {
                cx.message(
                    codes::INVALID_EXTERNAL_CONTROL_PLANE_CONFIG,
                    config,
                    field.clone(),
                    format!(
                        "The hostname ({url}) that was provided for the webhook ({name}) to reach the ingress gateway on the external control plane cluster {problem}. Traffic may not flow properly."
                    ),
                    "set clientConfig.url to https://<external istiod hostname>:15017/… or clientConfig.service",
                )
            };
            match client["url"].as_str() {
                Some(url) => match url_host(url) {
                    None => out.push(invalid(url, "was provided in an invalid format")),
                    Some(host) if host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() => {
                        out.push(cx.message(
                            codes::EXTERNAL_CONTROL_PLANE_ADDRESS_IS_NOT_A_HOSTNAME,
                            config,
                            field.clone(),
                            format!(
                                "The address ({url}) that was provided for the webhook ({name}) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment."
                            ),
                            "name the external control plane's ingress by a DNS name, so that its address can change",
                        ));
                    }
                    Some(_) => {}
                },
                None if client["service"].is_null() => out.push(invalid("", "is blank")),
                None => {}
            }
        }
    }
}

/// The host of a URL (`None` when the URL cannot be read).
fn url_host(url: &str) -> Option<&str> {
    if url.chars().any(|c| c.is_control() || c == ' ') || url.starts_with(':') {
        return None;
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() => rest,
        Some(_) => return None,
        None => return Some(""),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        let end = v6.find(']')?;
        return Some(&host[..end + 2]);
    }
    Some(host.split(':').next().unwrap_or_default())
}

#[cfg(test)]
pub(crate) mod tests;
