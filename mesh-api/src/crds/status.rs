//! The `status` of every mesh kind, as Istio defines it (`IstioStatus`: conditions,
//! observed generation and analyzer messages).
//!
//! The Rust types carry no status (mesh reads only the spec), but the CRDs declare
//! Istio's status schema and status subresource, so that a status written by a
//! controller is stored as it is under Istio's CRDs.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceSubresourceStatus, CustomResourceSubresources,
    JSONSchemaProps,
};
use serde_json::json;

/// Adds Istio's `status` property and the status subresource to every version of `crd`.
pub(super) fn add_status(crd: &mut CustomResourceDefinition) {
    // The schema is a constant, so the conversion cannot fail; a test proves it.
    let Ok(status) = serde_json::from_value::<JSONSchemaProps>(status_schema()) else {
        return;
    };
    for version in &mut crd.spec.versions {
        if let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            root.properties
                .get_or_insert_with(Default::default)
                .insert("status".to_string(), status.clone());
        }
        version
            .subresources
            .get_or_insert_with(CustomResourceSubresources::default)
            .status = Some(CustomResourceSubresourceStatus(json!({})));
    }
}

/// Istio's status schema; unknown fields are preserved, as Istio's CRDs do.
fn status_schema() -> serde_json::Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "conditions": {
                "description": "Current service state of the resource.",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "lastProbeTime": {
                            "description": "Last time we probed the condition.",
                            "type": "string",
                            "format": "date-time"
                        },
                        "lastTransitionTime": {
                            "description": "Last time the condition transitioned from one status to another.",
                            "type": "string",
                            "format": "date-time"
                        },
                        "message": {
                            "description": "Human-readable message indicating details about last transition.",
                            "type": "string"
                        },
                        "observedGeneration": {
                            "description": "Resource Generation to which the Condition refers.",
                            "x-kubernetes-int-or-string": true
                        },
                        "reason": {
                            "description": "Unique, one-word, CamelCase reason for the condition's last transition.",
                            "type": "string"
                        },
                        "status": {
                            "description": "Status is the status of the condition.",
                            "type": "string"
                        },
                        "type": {
                            "description": "Type is the type of the condition.",
                            "type": "string"
                        }
                    }
                }
            },
            "observedGeneration": {
                "x-kubernetes-int-or-string": true
            },
            "validationMessages": {
                "description": "Includes any errors or warnings detected by Istio's analyzers.",
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "documentationUrl": {
                            "description": "A url pointing to the Istio documentation for this specific error type.",
                            "type": "string"
                        },
                        "level": {
                            "description": "Represents how severe a message is.",
                            "type": "string",
                            "enum": ["UNKNOWN", "ERROR", "WARNING", "INFO"]
                        },
                        "type": {
                            "type": "object",
                            "properties": {
                                "code": {
                                    "description": "A 7 character code matching `^IST[0-9]{4}$` that identifies the message type.",
                                    "type": "string"
                                },
                                "name": {
                                    "description": "A human-readable name for the message type.",
                                    "type": "string"
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}
