//! Label selectors as Kubernetes evaluates them, and as Istio's messages print them.

use std::collections::BTreeMap;

use serde_json::Value;

use super::input::{items, string_map, strings};

pub(crate) type Labels = BTreeMap<String, String>;

/// Whether every `key=value` of `selector` is among `labels` (an empty selector
/// matches everything, as Kubernetes' `SelectorFromSet`).
pub(crate) fn selects(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Kubernetes' printed form of a selector: `key=value` pairs by key, comma-separated.
pub(crate) fn selector_string(selector: &Labels) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A `metav1.LabelSelector` (`matchLabels` and `matchExpressions`) against labels;
/// `None` (absent) matches everything. An invalid selector matches nothing.
pub(crate) fn label_selector_matches(selector: &Value, labels: &Labels) -> bool {
    if selector.is_null() {
        return true;
    }
    if !selects(&string_map(&selector["matchLabels"]), labels) {
        return false;
    }
    items(&selector["matchExpressions"])
        .iter()
        .all(|expression| {
            let Some(key) = expression["key"].as_str() else {
                return false;
            };
            let values = strings(&expression["values"]);
            let value = labels.get(key).map(String::as_str);
            match expression["operator"].as_str() {
                Some("In") => value.is_some_and(|v| values.contains(&v)),
                Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selectors_with_expressions() {
        let selector: Value = serde_json::json!({
            "matchLabels": {"a": "1"},
            "matchExpressions": [
                {"key": "b", "operator": "In", "values": ["x", "y"]},
                {"key": "c", "operator": "DoesNotExist"},
                {"key": "d", "operator": "NotIn", "values": ["z"]}
            ]
        });
        assert!(label_selector_matches(
            &selector,
            &labels(&[("a", "1"), ("b", "y")])
        ));
        assert!(!label_selector_matches(
            &selector,
            &labels(&[("a", "1"), ("b", "q")])
        ));
        assert!(!label_selector_matches(
            &selector,
            &labels(&[("a", "1"), ("b", "x"), ("c", "")])
        ));
        assert!(!label_selector_matches(
            &selector,
            &labels(&[("a", "1"), ("b", "x"), ("d", "z")])
        ));
        assert!(label_selector_matches(&Value::Null, &labels(&[])));
        let bad = serde_json::json!({"matchExpressions": [{"key": "a", "operator": "Near"}]});
        assert!(!label_selector_matches(&bad, &labels(&[("a", "1")])));
    }

    #[test]
    fn selectors_print_sorted_by_key() {
        assert_eq!(
            selector_string(&labels(&[("b", "2"), ("a", "1")])),
            "a=1,b=2"
        );
        assert!(selects(&labels(&[]), &labels(&[("a", "1")])));
    }
}
