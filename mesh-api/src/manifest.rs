//! Multi-document YAML manifests to typed objects.
//!
//! Every problem is reported with the file, the document's index and first line, the
//! object (when its kind and name could be read) and the field path, so that a user can
//! go straight to it. Documents of kinds the mesh does not read (Deployments,
//! ServiceAccounts, …) are skipped, not errors: a directory of ordinary Kubernetes
//! manifests (Istio's samples, say) loads as it is.

use std::fmt;

use crate::object::{DEFAULT_NAMESPACE, Kind, MeshObject, ObjectRef, TypeMetaError};

mod api_object;
mod documents;
mod files;
mod lines;
mod split;
mod typed;
mod unsupported;

pub use api_object::{API_LOCATION, api_location, parse_api_object};
pub use documents::{RawDocument, read_documents};
pub use files::manifest_files;
pub use lines::FieldLines;

use split::{DocumentText, split_documents};
use typed::{FieldError, Source, deserialize_object, prune_nulls, set_namespace};

/// Where a document sits in its file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file as the user named it (or a label such as `<stdin>`).
    pub file: String,
    /// 1-based index of the document in the file.
    pub document: usize,
    /// 1-based line on which the document starts, or the offending line when known.
    pub line: usize,
}

/// A typed object and where it came from.
#[derive(Debug, Clone)]
pub struct ParsedObject {
    pub object: MeshObject,
    pub location: Location,
}

/// A document that could not be turned into an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub location: Location,
    /// The object, when its kind, namespace and name could be read.
    pub object: Option<ObjectRef>,
    /// Path of the offending field (`spec.http[0].route[0].weight`), when known.
    pub field: Option<String>,
    pub message: String,
}

/// A document of a kind the mesh does not read, skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedDocument {
    pub location: Location,
    pub api_version: String,
    pub kind: String,
}

/// The outcome of parsing one file.
#[derive(Debug, Clone, Default)]
pub struct ParsedFile {
    pub objects: Vec<ParsedObject>,
    pub errors: Vec<ManifestError>,
    pub skipped: Vec<SkippedDocument>,
}

/// What the first look at a document finds: enough to name it and pick its type.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) api_version: String,
    pub(crate) kind: String,
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
}

impl ParsedFile {
    /// References of the objects that failed, for callers that keep the last good
    /// version of an object when its new version is bad.
    pub fn failed_objects(&self) -> impl Iterator<Item = &ObjectRef> {
        self.errors.iter().filter_map(|e| e.object.as_ref())
    }
}

/// Parses every document of one file. `file` is only used in locations.
pub fn parse_file(file: &str, text: &str) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    for doc in split_documents(text) {
        let location = Location {
            file: file.to_string(),
            document: doc.index,
            line: doc.first_line,
        };
        match list_items(doc.text) {
            // `kubectl get … -o yaml` wraps objects in a List: each item is a document.
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let text = serde_norway::to_string(item).unwrap_or_default();
                    let item_doc = DocumentText { text: &text, ..doc };
                    let outcome = parse_document(&item_doc, location.clone()).map_err(|mut e| {
                        // Lines of the re-serialized item are not the file's.
                        e.location.line = doc.first_line;
                        e.field = Some(match e.field.take() {
                            Some(field) => format!("items[{i}].{field}"),
                            None => format!("items[{i}]"),
                        });
                        e
                    });
                    parsed.record(outcome, location.clone());
                }
            }
            None => parsed.record(parse_document(&doc, location.clone()), location),
        }
    }
    parsed
}

/// The items of a `v1 List` (or `…List`) document, if the document is one.
pub(crate) fn list_items(text: &str) -> Option<Vec<serde_norway::Value>> {
    let value: serde_norway::Value = serde_norway::from_str(text).ok()?;
    let kind = value.get("kind")?.as_str()?;
    if !kind.ends_with("List") {
        return None;
    }
    value.get("items")?.as_sequence().cloned()
}

impl ParsedFile {
    fn record(&mut self, outcome: Result<DocumentOutcome, Box<ManifestError>>, location: Location) {
        match outcome {
            Ok(DocumentOutcome::Object(object)) => {
                self.objects.push(ParsedObject { object, location })
            }
            Ok(DocumentOutcome::Skipped { api_version, kind }) => {
                self.skipped.push(SkippedDocument {
                    location,
                    api_version,
                    kind,
                })
            }
            Err(err) => self.errors.push(*err),
        }
    }
}

pub(crate) enum DocumentOutcome {
    Object(MeshObject),
    Skipped { api_version: String, kind: String },
}

pub(crate) fn parse_document(
    doc: &DocumentText<'_>,
    location: Location,
) -> Result<DocumentOutcome, Box<ManifestError>> {
    let error = |object: Option<ObjectRef>, field: Option<String>, message: String| {
        Box::new(ManifestError {
            location: location.clone(),
            object,
            field,
            message,
        })
    };
    let value: serde_norway::Value = serde_norway::from_str(doc.text).map_err(|e| {
        let mut err = error(None, None, format!("invalid YAML: {e}"));
        if let Some(loc) = e.location() {
            err.location.line = doc.text_line + loc.line() - 1;
        }
        err
    })?;
    let header = read_header(&value).map_err(|(field, msg)| error(None, Some(field), msg))?;
    let kind = match Kind::from_type_meta(&header.api_version, &header.kind) {
        Ok(kind) => kind,
        Err(TypeMetaError::UnknownKind { api_version, kind }) => {
            return Ok(DocumentOutcome::Skipped { api_version, kind });
        }
        Err(err @ TypeMetaError::UnsupportedVersion { .. }) => {
            return Err(error(None, Some("apiVersion".into()), err.to_string()));
        }
    };
    let Some(name) = header.name.filter(|n| !n.is_empty()) else {
        return Err(error(
            None,
            Some("metadata.name".into()),
            format!("{kind} has no metadata.name; every object needs a name"),
        ));
    };
    let namespace = match &header.namespace {
        _ if kind.is_cluster_scoped() => String::new(),
        Some(namespace) => namespace.clone(),
        None => DEFAULT_NAMESPACE.to_string(),
    };
    let object_ref = ObjectRef {
        kind,
        namespace,
        name,
    };
    if let Some(found) = unsupported::find(kind, &value) {
        return Err(error(
            Some(object_ref),
            Some(found.path),
            format!(
                "field is not supported yet by mesh ({}); see docs/reference/unsupported-fields.md",
                found.reason
            ),
        ));
    }
    // Like the API server, a field set to null is a field not set (Helm renders empty
    // lists as null). Such documents are read from the pruned value, which costs the
    // line of a later error: it then points at the document.
    let pruned = prune_nulls(value.clone());
    let source = match &pruned {
        Some(pruned) => Source::Value(pruned.clone()),
        None => Source::Text(doc.text),
    };
    let to_error = |e: FieldError| {
        let mut err = error(Some(object_ref.clone()), e.field, e.message);
        if let Some(line) = e.line {
            err.location.line = doc.text_line + line - 1;
        }
        err
    };
    let mut object = match deserialize_object(kind, &source) {
        Ok(object) => object,
        // `status` is written by controllers and never read: a status this schema does
        // not know (a condition without `lastTransitionTime`) is no error in the object.
        Err(e)
            if e.field
                .as_deref()
                .is_some_and(|f| f == "status" || f.starts_with("status.")) =>
        {
            let without = without_status(pruned.unwrap_or(value));
            deserialize_object(kind, &Source::Value(without)).map_err(to_error)?
        }
        Err(e) => return Err(to_error(e)),
    };
    if header.namespace.is_none() || kind.is_cluster_scoped() {
        set_namespace(&mut object, DEFAULT_NAMESPACE);
    }
    Ok(DocumentOutcome::Object(object))
}

/// The document without its `status`.
fn without_status(mut value: serde_norway::Value) -> serde_norway::Value {
    if let Some(map) = value.as_mapping_mut() {
        map.remove("status");
    }
    value
}

pub(crate) fn read_header(value: &serde_norway::Value) -> Result<Header, (String, String)> {
    let map = value.as_mapping().ok_or_else(|| {
        (
            String::from("."),
            "document is not a mapping; expected a Kubernetes object with apiVersion, kind and metadata".to_string(),
        )
    })?;
    let string = |key: &str| map.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let api_version = string("apiVersion")
        .ok_or_else(|| ("apiVersion".to_string(), "missing apiVersion".to_string()))?;
    let kind = string("kind").ok_or_else(|| ("kind".to_string(), "missing kind".to_string()))?;
    let metadata = map.get("metadata");
    let meta_string = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    Ok(Header {
        api_version,
        kind,
        name: meta_string("name"),
        namespace: meta_string("namespace"),
    })
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Objects read from the API have no file, document or line.
        if self.document == 0 {
            return f.write_str(&self.file);
        }
        write!(
            f,
            "{}:{} (document {})",
            self.file, self.line, self.document
        )
    }
}

impl fmt::Display for ManifestError {
    /// `file:line (document N): Kind ns/name: field: message`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.location)?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestError {}

#[cfg(test)]
mod tests;
