//! Objects of the Kubernetes API to the objects the config store holds.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::{ApiResource, DynamicObject};
use mesh_api::analysis::admission_errors;
use mesh_api::manifest::{ManifestError, api_location, parse_api_object};
use mesh_api::object::{Kind, MeshObject, ObjectRef};

use crate::config::StoredObject;

/// One object of a watch: its reference, and the object or why it is invalid.
#[derive(Debug, Clone)]
pub struct Converted {
    pub object_ref: ObjectRef,
    pub outcome: Result<StoredObject, ManifestError>,
}

/// A custom resource of one of the mesh's kinds, parsed as a manifest would be; `None`
/// for a kind the mesh does not read.
pub fn custom_resource(mut object: DynamicObject, resource: &ApiResource) -> Option<Converted> {
    // List items may come without their type; the watch knows it.
    if object.types.is_none() {
        object.types = Some(kube::api::TypeMeta {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
        });
    }
    let kind = Kind::from_type_meta(&resource.api_version, &resource.kind).ok()?;
    let object_ref = ObjectRef {
        kind,
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
    };
    let value = match serde_json::to_value(&object) {
        Ok(value) => value,
        Err(e) => {
            return Some(invalid(
                object_ref,
                format!("cannot re-encode the object: {e}"),
            ));
        }
    };
    // What the validating webhook would refuse is refused here too: an object that
    // got past it (created before it, or while it was down) must not break the mesh.
    let refused = admission_errors(&value);
    let outcome = match parse_api_object(value) {
        Ok(Some(_)) if !refused.is_empty() => Err(ManifestError {
            location: api_location(),
            object: Some(object_ref.clone()),
            field: refused.first().and_then(|m| m.field.clone()),
            message: refused
                .iter()
                .map(|m| format!("{} ({})", m.message, m.fix))
                .collect::<Vec<_>>()
                .join("; "),
        }),
        Ok(Some(parsed)) => Ok(stored(parsed)),
        Ok(None) => return None,
        Err(error) => Err(*error),
    };
    Some(Converted {
        object_ref,
        outcome,
    })
}

/// A `v1 Service`, as it is: the API server validated it.
pub fn service(mut service: Service) -> Option<Converted> {
    service.metadata.managed_fields = None;
    let object_ref = core_ref(Kind::Service, &service);
    Some(valid(object_ref, MeshObject::Service(Box::new(service))))
}

/// A `v1 Pod`: a workload, and the identity of the endpoints that name it.
pub fn pod(mut pod: Pod) -> Option<Converted> {
    pod.metadata.managed_fields = None;
    let object_ref = core_ref(Kind::Pod, &pod);
    Some(valid(object_ref, MeshObject::Pod(Box::new(pod))))
}

/// A `discovery.k8s.io/v1 EndpointSlice`: endpoints of the Service it is labelled with.
pub fn endpoint_slice(mut slice: EndpointSlice) -> Option<Converted> {
    slice.metadata.managed_fields = None;
    let object_ref = core_ref(Kind::EndpointSlice, &slice);
    Some(valid(
        object_ref,
        MeshObject::EndpointSlice(Box::new(slice)),
    ))
}

/// A `v1 Namespace` (cluster-scoped: its reference has no namespace).
pub fn namespace(mut namespace: Namespace) -> Option<Converted> {
    namespace.metadata.managed_fields = None;
    let object_ref = ObjectRef {
        kind: Kind::Namespace,
        namespace: String::new(),
        name: namespace.name_any(),
    };
    Some(valid(
        object_ref,
        MeshObject::Namespace(Box::new(namespace)),
    ))
}

fn core_ref(kind: Kind, object: &impl ResourceExt) -> ObjectRef {
    ObjectRef {
        kind,
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
    }
}

fn valid(object_ref: ObjectRef, object: MeshObject) -> Converted {
    Converted {
        object_ref,
        outcome: Ok(stored(object)),
    }
}

fn stored(object: MeshObject) -> StoredObject {
    StoredObject {
        object: Arc::new(object),
        location: api_location(),
    }
}

fn invalid(object_ref: ObjectRef, message: String) -> Converted {
    Converted {
        outcome: Err(ManifestError {
            location: api_location(),
            object: Some(object_ref.clone()),
            field: None,
            message,
        }),
        object_ref,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virtual_service(http: serde_json::Value) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "9"},
            "spec": {"hosts": ["web"], "http": http}
        }))
        .expect("an object")
    }

    #[test]
    fn what_the_validating_webhook_refuses_is_invalid_here_too() {
        let resource = ApiResource {
            group: "networking.istio.io".into(),
            version: "v1".into(),
            api_version: "networking.istio.io/v1".into(),
            kind: "VirtualService".into(),
            plural: "virtualservices".into(),
        };
        let both = serde_json::json!([{"route": [{"destination": {"host": "web"}}], "redirect": {"uri": "/x"}}]);
        let converted = custom_resource(virtual_service(both), &resource).expect("ours");
        let error = converted.outcome.expect_err("route and redirect together");
        assert_eq!(error.field.as_deref(), Some("spec.http[0]"));
        let fine = serde_json::json!([{"route": [{"destination": {"host": "web"}}]}]);
        let converted = custom_resource(virtual_service(fine), &resource).expect("ours");
        assert!(converted.outcome.is_ok());
    }
}
