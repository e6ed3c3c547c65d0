//! Custom resources that got into the cluster although they are invalid (created
//! before the validating webhook, or while it was unreachable) are reported where
//! their users look: `status.validationMessages` in Istio's shape (`level`, `type`
//! with Istio's code, `documentationUrl`) and a Warning event with the full message.
//! The status is cleared when the object is fixed. Writing it only when it differs
//! from what the object holds keeps the watch from looping on its own writes.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use mesh_api::analysis::codes::SCHEMA_VALIDATION_ERROR;
use serde_json::{Value, json};

use super::convert::Converted;

/// Writes statuses and events of one kind of custom resource.
#[derive(Clone)]
pub(super) struct StatusWriter {
    client: Client,
    resource: ApiResource,
    recorder: Arc<Recorder>,
}

/// The `validationMessages` an object should carry: Istio's IST0106 when invalid.
pub(super) fn desired_messages(converted: &Converted) -> Vec<Value> {
    match &converted.outcome {
        Ok(_) => Vec::new(),
        Err(_) => vec![json!({
            "level": "ERROR",
            "type": {"code": SCHEMA_VALIDATION_ERROR.code, "name": SCHEMA_VALIDATION_ERROR.name},
            "documentationUrl": SCHEMA_VALIDATION_ERROR.documentation_url(),
        })],
    }
}

/// The `validationMessages` the object holds now.
pub(super) fn current_messages(object: &DynamicObject) -> Vec<Value> {
    object
        .data
        .get("status")
        .and_then(|s| s.get("validationMessages"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl StatusWriter {
    pub(super) fn new(client: Client, resource: ApiResource) -> StatusWriter {
        let reporter = Reporter {
            controller: "mesh-control".to_string(),
            instance: std::env::var("POD_NAME").ok(),
        };
        StatusWriter {
            recorder: Arc::new(Recorder::new(client.clone(), reporter)),
            client,
            resource,
        }
    }

    /// Brings the object's status (and an event) in line with `converted`, on a
    /// task of its own: the watch does not wait for the API server.
    pub(super) fn reconcile(&self, object: &DynamicObject, converted: &Converted) {
        let desired = desired_messages(converted);
        if desired == current_messages(object) {
            return;
        }
        let writer = self.clone();
        let name = object.name_any();
        let namespace = object.namespace().unwrap_or_default();
        let reference = object.object_ref(&self.resource);
        let error = converted.outcome.as_ref().err().map(ToString::to_string);
        tokio::spawn(async move {
            writer
                .write(&namespace, &name, desired, reference, error)
                .await;
        });
    }

    async fn write(
        &self,
        namespace: &str,
        name: &str,
        messages: Vec<Value>,
        reference: ObjectReference,
        error: Option<String>,
    ) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &self.resource);
        // A merge patch: `null` removes the messages of a fixed object.
        let value = if messages.is_empty() {
            Value::Null
        } else {
            Value::Array(messages)
        };
        let patch = json!({"status": {"validationMessages": value}});
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(error) => {
                tracing::warn!(kind = %self.resource.kind, %namespace, %name, %error, "cannot write the status; check mesh-control's RBAC (patch on */status)");
            }
        }
        let event = match &error {
            Some(message) => Event {
                type_: EventType::Warning,
                reason: "InvalidConfig".to_string(),
                note: Some(truncate(message)),
                action: "Validate".to_string(),
                secondary: None,
            },
            None => Event {
                type_: EventType::Normal,
                reason: "ValidConfig".to_string(),
                note: Some("the object is valid again and in force".to_string()),
                action: "Validate".to_string(),
                secondary: None,
            },
        };
        if let Err(error) = self.recorder.publish(&event, &reference).await {
            tracing::debug!(%namespace, %name, %error, "cannot publish an event");
        }
    }
}

/// Events notes are limited to 1 kB by the API.
fn truncate(message: &str) -> String {
    if message.len() <= 1000 {
        return message.to_string();
    }
    let mut end = 1000;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

impl std::fmt::Debug for StatusWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWriter")
            .field("resource", &self.resource.kind)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_api::manifest::{ManifestError, api_location};
    use mesh_api::object::{Kind, ObjectRef};

    fn converted(valid: bool) -> Converted {
        let object_ref = ObjectRef {
            kind: Kind::VirtualService,
            namespace: "shop".into(),
            name: "web".into(),
        };
        let outcome = if valid {
            let object = mesh_api::manifest::parse_api_object(json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "web", "namespace": "shop"}, "spec": {"hosts": ["web"]}
            }))
            .expect("valid")
            .expect("ours");
            Ok(crate::config::StoredObject {
                object: Arc::new(object),
                location: api_location(),
            })
        } else {
            Err(ManifestError {
                location: api_location(),
                object: Some(object_ref.clone()),
                field: Some("spec.http".into()),
                message: "bad".into(),
            })
        };
        Converted {
            object_ref,
            outcome,
        }
    }

    fn object(status: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop"}, "spec": {}, "status": status
        }))
        .expect("an object")
    }

    #[test]
    fn an_invalid_object_wants_istios_message_and_a_valid_one_none() {
        let invalid = desired_messages(&converted(false));
        assert_eq!(invalid[0]["type"]["code"], "IST0106");
        assert_eq!(invalid[0]["level"], "ERROR");
        assert!(desired_messages(&converted(true)).is_empty());
        // What the object already says is not written again (no write loop).
        assert_eq!(
            current_messages(&object(json!({"validationMessages": invalid.clone()}))),
            invalid
        );
        assert!(current_messages(&object(json!({}))).is_empty());
    }
}
