//! Objects read from the Kubernetes API rather than from files: the same typed
//! parsing and the same errors, located by the API object instead of a file line.

use super::{DocumentOutcome, DocumentText, Location, ManifestError, parse_document};
use crate::object::MeshObject;

/// The `file` of the locations of API objects: errors then read
/// `Kubernetes API: VirtualService shop/web: spec.http[0]…: …`.
pub const API_LOCATION: &str = "Kubernetes API";

/// Where an object read from the Kubernetes API is reported.
pub fn api_location() -> Location {
    Location {
        file: API_LOCATION.to_string(),
        document: 0,
        line: 0,
    }
}

/// Parses one object as the API served it (JSON). `Ok(None)`: a kind the mesh does
/// not read. `metadata.managedFields` is dropped first: it is large and never read.
pub fn parse_api_object(
    mut value: serde_json::Value,
) -> Result<Option<MeshObject>, Box<ManifestError>> {
    if let Some(metadata) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        metadata.remove("managedFields");
    }
    let text = serde_norway::to_string(&value).map_err(|e| {
        Box::new(ManifestError {
            location: api_location(),
            object: None,
            field: None,
            message: format!("the API server sent an object that is not YAML-representable: {e}"),
        })
    })?;
    let doc = DocumentText {
        index: 0,
        first_line: 0,
        text_line: 0,
        text: &text,
    };
    match parse_document(&doc, api_location()) {
        Ok(DocumentOutcome::Object(object)) => Ok(Some(object)),
        Ok(DocumentOutcome::Skipped { .. }) => Ok(None),
        Err(mut e) => {
            // Lines of the re-serialized object mean nothing to the user.
            e.location = api_location();
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::Kind;

    #[test]
    fn an_api_object_parses_like_a_manifest_and_its_errors_name_object_and_field() {
        let good = serde_json::json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "12",
                         "managedFields": [{"manager": "kubectl"}]},
            "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}}]}]},
            "status": {"validationMessages": []}
        });
        let object = parse_api_object(good).expect("valid").expect("a mesh kind");
        assert_eq!(object.object_ref().kind, Kind::VirtualService);
        assert_eq!(object.object_ref().namespace, "shop");

        let bad = serde_json::json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"hosts": ["web"], "http": [{"route": [{"destination": {"host": "web"}, "weight": "heavy"}]}]}
        });
        let error = parse_api_object(bad).expect_err("weight is not a number");
        let text = error.to_string();
        assert!(
            text.starts_with(
                "Kubernetes API: VirtualService shop/web: spec.http[0].route[0].weight"
            ),
            "{text}"
        );

        let other = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                       "metadata": {"name": "web", "namespace": "shop"}});
        assert!(parse_api_object(other).expect("skipped").is_none());
    }
}
