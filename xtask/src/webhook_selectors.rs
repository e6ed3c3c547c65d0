//! Which injection webhook of the rendered mesh-control chart a pod reaches, for the
//! namespace and pod labels that matter: Istio's and ours, opt-outs, revisions and the
//! namespaces never injected. A pod must reach the expected webhook and no other
//! (selectors evaluated as the apiserver does; checked by hand against a real one).

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

type Labels = BTreeMap<String, String>;

/// Labels as written in a case.
type LabelPairs = &'static [(&'static str, &'static str)];

/// (namespace labels, pod labels, the webhook, by name prefix, or `None`).
const CASES: &[(LabelPairs, LabelPairs, Option<&str>)] = &[
    (&[("mesh.dev/inject", "enabled")], &[], Some("namespace")),
    (
        &[("mesh.dev/inject", "enabled")],
        &[("mesh.dev/inject", "false")],
        None,
    ),
    (
        &[("mesh.dev/inject", "enabled")],
        &[("sidecar.istio.io/inject", "false")],
        None,
    ),
    (
        &[("istio-injection", "enabled")],
        &[],
        Some("istio-namespace"),
    ),
    (
        &[
            ("istio-injection", "enabled"),
            ("mesh.dev/inject", "enabled"),
        ],
        &[],
        Some("namespace"),
    ),
    (
        &[
            ("istio-injection", "enabled"),
            ("mesh.dev/inject", "disabled"),
        ],
        &[],
        None,
    ),
    (&[], &[("mesh.dev/inject", "true")], Some("object")),
    (
        &[],
        &[("sidecar.istio.io/inject", "true")],
        Some("istio-object"),
    ),
    (
        &[],
        &[
            ("sidecar.istio.io/inject", "true"),
            ("mesh.dev/inject", "true"),
        ],
        Some("object"),
    ),
    (
        &[],
        &[
            ("sidecar.istio.io/inject", "true"),
            ("mesh.dev/inject", "false"),
        ],
        None,
    ),
    (&[], &[], None),
    (
        &[("istio-injection", "disabled")],
        &[("sidecar.istio.io/inject", "true")],
        None,
    ),
    (
        &[("istio.io/rev", "canary")],
        &[("sidecar.istio.io/inject", "true")],
        None,
    ),
    (
        &[],
        &[
            ("sidecar.istio.io/inject", "true"),
            ("istio.io/rev", "canary"),
        ],
        None,
    ),
    (
        &[
            ("kubernetes.io/metadata.name", "kube-system"),
            ("mesh.dev/inject", "enabled"),
        ],
        &[],
        None,
    ),
    (
        &[("kubernetes.io/metadata.name", "mesh-system")],
        &[("mesh.dev/inject", "true")],
        None,
    ),
];

#[derive(Debug, Deserialize)]
struct Webhook {
    name: String,
    #[serde(rename = "namespaceSelector", default)]
    namespace_selector: Value,
    #[serde(rename = "objectSelector", default)]
    object_selector: Value,
}

/// Checks every case against the MutatingWebhookConfiguration in `rendered` (the
/// default rendering of mesh-control in namespace mesh-system).
pub(crate) fn check(rendered: &str) -> Result<usize> {
    let webhooks = injection_webhooks(rendered)?;
    for (namespace, pod, expected) in CASES {
        let mut ns_labels = labels(namespace);
        ns_labels
            .entry("kubernetes.io/metadata.name".to_owned())
            .or_insert_with(|| "apps".to_owned());
        let pod_labels = labels(pod);
        let reached: Vec<&str> = webhooks
            .iter()
            .filter(|w| {
                selects(&w.namespace_selector, &ns_labels)
                    && selects(&w.object_selector, &pod_labels)
            })
            .map(|w| w.name.as_str())
            .collect();
        let wanted: Vec<String> = expected
            .iter()
            .map(|prefix| format!("{prefix}.sidecar-injector.mesh.dev"))
            .collect();
        if reached != wanted {
            bail!(
                "a pod labelled {pod_labels:?} in a namespace labelled {ns_labels:?} reaches \
                 the injection webhooks {reached:?}, expected {wanted:?}: fix the selectors \
                 in charts/mesh-control/templates/mutatingwebhook.yaml"
            );
        }
    }
    Ok(CASES.len())
}

fn injection_webhooks(rendered: &str) -> Result<Vec<Webhook>> {
    for document in serde_norway::Deserializer::from_str(rendered) {
        let object = Value::deserialize(document).context("the rendering is not YAML")?;
        if object["kind"] == "MutatingWebhookConfiguration" {
            return serde_json::from_value(object["webhooks"].clone())
                .context("the MutatingWebhookConfiguration's webhooks are not well formed");
        }
    }
    bail!("mesh-control renders no MutatingWebhookConfiguration with its default values")
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A metav1.LabelSelector's verdict; an absent or empty selector selects everything.
fn selects(selector: &Value, labels: &Labels) -> bool {
    let match_labels = selector["matchLabels"].as_object();
    let labels_match = match_labels.is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
    });
    let expressions = selector["matchExpressions"].as_array();
    labels_match
        && expressions.is_none_or(|exprs| {
            exprs.iter().all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .map(|vs| vs.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let value = labels.get(key).map(String::as_str);
                match e["operator"].as_str() {
                    Some("In") => value.is_some_and(|v| values.contains(&v)),
                    Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                    Some("Exists") => value.is_some(),
                    Some("DoesNotExist") => value.is_none(),
                    _ => false,
                }
            })
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn selectors_follow_the_apiservers_rules() {
        let l = labels(&[("a", "1")]);
        assert!(selects(&Value::Null, &l));
        assert!(selects(&json!({"matchLabels": {"a": "1"}}), &l));
        assert!(!selects(&json!({"matchLabels": {"a": "2"}}), &l));
        let expr =
            |op: &str| json!({"matchExpressions": [{"key": "b", "operator": op, "values": ["x"]}]});
        // NotIn and DoesNotExist select objects without the key; In and Exists do not.
        assert!(selects(&expr("NotIn"), &l));
        assert!(selects(&expr("DoesNotExist"), &l));
        assert!(!selects(&expr("In"), &l));
        assert!(!selects(&expr("Exists"), &l));
    }
}
