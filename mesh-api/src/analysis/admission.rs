//! What a validating admission webhook says of one object: the analyzer's schema and
//! semantic validation (IST0106), in the file-less form `Kind ns/name: field: text`.
//! Only what one object shows on its own: a VirtualService naming a host that does
//! not exist yet is valid (it may be created next), as Istio's webhook allows it.

use serde_json::Value;

use super::codes::SCHEMA_VALIDATION_ERROR;
use super::{AnalysisOptions, Level, Message, analyze_files};

/// Why the object must be rejected; empty when it may be admitted.
pub fn admission_errors(object: &Value) -> Vec<Message> {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    let text = match serde_norway::to_string(&object) {
        Ok(text) => text,
        Err(e) => {
            return vec![Message::unlocated(
                SCHEMA_VALIDATION_ERROR,
                "object".to_string(),
                None,
                None,
                format!("the object cannot be read: {e}"),
                "send a Kubernetes object with apiVersion, kind and metadata".to_string(),
            )];
        }
    };
    let analysis = analyze_files(
        &[("admission".to_string(), text)],
        &AnalysisOptions::default(),
    );
    analysis
        .messages
        .into_iter()
        .filter(|m| m.level == Level::Error && m.code == SCHEMA_VALIDATION_ERROR.code)
        .map(|mut m| {
            // The object came from no file: its lines mean nothing to the user.
            m.reference = None;
            m
        })
        .collect()
}

/// One line per message: `VirtualService shop/web: spec.http[0].route: text (fix)`.
pub fn admission_text(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| match &m.field {
            Some(field) => format!("{}: {field}: {} ({})", m.origin, m.message, m.fix),
            None => format!("{}: {} ({})", m.origin, m.message, m.fix),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invalid_objects_are_rejected_naming_object_and_field() {
        let bad = json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}, "weight": "heavy"}]}]}
        });
        let errors = admission_errors(&bad);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let text = admission_text(&errors);
        assert!(
            text.starts_with("VirtualService shop/web: spec.http[0].route[0].weight"),
            "{text}"
        );

        let semantic = json!({
            "apiVersion": "networking.mesh.dev/v1alpha1", "kind": "ServiceEntry",
            "metadata": {"name": "ext", "namespace": "shop"},
            "spec": {"hosts": [], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]}
        });
        let text = admission_text(&admission_errors(&semantic));
        assert!(text.contains("ServiceEntry shop/ext: spec.hosts"), "{text}");
    }

    #[test]
    fn valid_objects_are_admitted_even_when_they_name_what_does_not_exist_yet() {
        let good = json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "nowhere", "subset": "v9"}}]}]}
        });
        assert!(admission_errors(&good).is_empty());
    }
}
