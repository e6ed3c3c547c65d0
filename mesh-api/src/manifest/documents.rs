//! Every document of a file as analysis reads it: its content whatever its kind
//! (Pods, Deployments, Namespaces, webhook configurations, Gateway API objects, …),
//! where each field is, and, for the kinds mesh reads, the typed object or why the
//! document does not make one.
//!
//! The control plane's [`super::parse_file`] is untouched by this: it still reads only
//! mesh's kinds and skips the rest.

use super::lines::FieldLines;
use super::split::{DocumentText, split_documents};
use super::{DocumentOutcome, Location, ManifestError, list_items, parse_document, read_header};
use crate::object::MeshObject;

/// One document, whatever its kind.
#[derive(Debug, Clone)]
pub struct RawDocument {
    pub location: Location,
    pub api_version: String,
    pub kind: String,
    pub name: Option<String>,
    /// `metadata.namespace` as written (none for cluster-scoped kinds, or when left out).
    pub namespace: Option<String>,
    /// The whole document (`status` included).
    pub value: serde_json::Value,
    /// Where each field of the document is.
    pub lines: FieldLines,
    /// For kinds mesh reads: the typed object, or the schema error that prevents it.
    /// `None` for other kinds.
    pub mesh: Option<Result<MeshObject, ManifestError>>,
}

/// Reads every document of one file. Documents that are not YAML, or lack `apiVersion`
/// or `kind`, are returned as errors.
pub fn read_documents(file: &str, text: &str) -> (Vec<RawDocument>, Vec<ManifestError>) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for doc in split_documents(text) {
        let location = Location {
            file: file.to_string(),
            document: doc.index,
            line: doc.first_line,
        };
        let lines = FieldLines::scan(doc.text, doc.text_line);
        match list_items(doc.text) {
            // `kubectl get … -o yaml` wraps objects in a List: each item is a document.
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let prefix = format!("items[{i}]");
                    let item_lines = lines.subtree(&prefix);
                    let text = serde_norway::to_string(item).unwrap_or_default();
                    let item_doc = DocumentText { text: &text, ..doc };
                    let location = Location {
                        line: lines.line_of(&prefix).unwrap_or(doc.first_line),
                        ..location.clone()
                    };
                    match read_document(&item_doc, location, item_lines) {
                        Ok(d) => documents.push(d),
                        Err(mut e) => {
                            e.field = Some(match e.field.take() {
                                Some(field) => format!("{prefix}.{field}"),
                                None => prefix,
                            });
                            errors.push(*e);
                        }
                    }
                }
            }
            None => match read_document(&doc, location, lines) {
                Ok(d) => documents.push(d),
                Err(e) => errors.push(*e),
            },
        }
    }
    (documents, errors)
}

fn read_document(
    doc: &DocumentText<'_>,
    location: Location,
    lines: FieldLines,
) -> Result<RawDocument, Box<ManifestError>> {
    let value: serde_norway::Value = serde_norway::from_str(doc.text).map_err(|e| {
        let line = e
            .location()
            .map_or(location.line, |l| doc.text_line + l.line() - 1);
        Box::new(ManifestError {
            location: Location {
                line,
                ..location.clone()
            },
            object: None,
            field: None,
            message: format!("invalid YAML: {e}"),
        })
    })?;
    let header = read_header(&value).map_err(|(field, message)| {
        Box::new(ManifestError {
            location: location.clone(),
            object: None,
            field: Some(field),
            message,
        })
    })?;
    let mesh = match parse_document(doc, location.clone()) {
        Ok(DocumentOutcome::Object(object)) => Some(Ok(object)),
        Ok(DocumentOutcome::Skipped { .. }) => None,
        Err(e) => Some(Err(*e)),
    };
    Ok(RawDocument {
        location,
        api_version: header.api_version,
        kind: header.kind,
        name: header.name,
        namespace: header.namespace,
        // Maps with keys JSON cannot have (sequences as keys) are no object analysis reads.
        value: serde_json::to_value(&value).unwrap_or_default(),
        lines,
        mesh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_read_with_its_lines_and_mesh_kinds_are_typed() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: a}}\nspec:\n  containers:\n  - name: istio-proxy\n    image: proxyv2\n---\n# a comment\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [a]\n  http:\n  - route: [{destination: {host: a}, weight: x}]\n";
        let (docs, errors) = read_documents("f.yaml", text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].kind, "Pod");
        assert!(matches!(docs[0].mesh, Some(Ok(MeshObject::Pod(_)))));
        assert_eq!(docs[0].value["spec"]["containers"][0]["image"], "proxyv2");
        assert_eq!(docs[0].lines.line_of("spec.containers[0].image"), Some(7));
        assert_eq!(docs[1].location.line, 10);
        assert_eq!(
            docs[1].lines.line_of("spec.http[0].route[0].weight"),
            Some(16)
        );
        let error = docs[1].mesh.as_ref().and_then(|m| m.as_ref().err());
        assert_eq!(
            error.and_then(|e| e.field.as_deref()),
            Some("spec.http[0].route[0].weight")
        );
        assert_eq!(error.map(|e| e.location.line), Some(16));
    }

    #[test]
    fn list_items_are_documents_with_their_own_lines() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: a\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: b\n    labels: {istio-injection: enabled}\n";
        let (docs, errors) = read_documents("f.yaml", text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].name.as_deref(), Some("b"));
        assert_eq!(docs[1].location.line, 8);
        assert_eq!(
            docs[1].lines.line_of("metadata.labels.istio-injection"),
            Some(12)
        );
    }

    #[test]
    fn unreadable_documents_are_errors() {
        let (docs, errors) = read_documents("f.yaml", "kind: Pod\n---\na: [\n");
        assert!(docs.is_empty());
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field.as_deref(), Some("apiVersion"));
        assert!(
            errors[1].message.starts_with("invalid YAML"),
            "{:?}",
            errors[1]
        );
    }
}
