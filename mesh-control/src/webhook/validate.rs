//! `/validate`: the validating webhook of mesh config. An object the control plane
//! could not use is rejected with the analyzer's messages (object and field), so that
//! `kubectl apply` says what to fix; deletes and objects of other kinds pass.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use mesh_api::analysis::{admission_errors, admission_text};

/// The response to one review.
pub fn review(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return response;
    }
    let Some(object) = &request.object else {
        return response;
    };
    let value = match serde_json::to_value(object) {
        Ok(value) => value,
        Err(e) => return response.deny(format!("cannot read the object: {e}")),
    };
    let errors = admission_errors(&value);
    if errors.is_empty() {
        return response;
    }
    tracing::info!(
        kind = %request.kind.kind,
        namespace = request.namespace.as_deref().unwrap_or_default(),
        name = %request.name,
        "rejected invalid config"
    );
    response.deny(admission_text(&errors))
}

#[cfg(test)]
mod tests {
    use kube::core::admission::AdmissionReview;
    use serde_json::json;

    use super::*;

    fn request(operation: &str, object: serde_json::Value) -> AdmissionRequest<DynamicObject> {
        let review: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": {"group": "networking.istio.io", "version": "v1", "kind": "VirtualService"},
                "resource": {"group": "networking.istio.io", "version": "v1", "resource": "virtualservices"},
                "name": "web", "namespace": "shop", "operation": operation,
                "userInfo": {"username": "admin"},
                "object": object, "oldObject": null, "dryRun": false
            }
        }))
        .expect("a review");
        review.try_into().expect("a request")
    }

    fn virtual_service(weight: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}, "weight": weight}]}]}})
    }

    #[test]
    fn an_invalid_object_is_denied_with_object_and_field() {
        let response = review(&request("CREATE", virtual_service(json!("heavy"))));
        assert!(!response.allowed);
        assert_eq!(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert!(
            response
                .result
                .message
                .starts_with("VirtualService shop/web: spec.http[0].route[0].weight"),
            "{}",
            response.result.message
        );
    }

    #[test]
    fn valid_objects_and_deletes_are_allowed() {
        assert!(review(&request("UPDATE", virtual_service(json!(100)))).allowed);
        assert!(review(&request("DELETE", serde_json::Value::Null)).allowed);
    }
}
