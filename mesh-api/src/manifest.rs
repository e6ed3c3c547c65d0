//! Multi-document YAML manifests to typed objects.
//!
//! Every problem is reported with the file, the document's index and first line, the
//! object (when its kind and name could be read) and the field path, so that a user can
//! go straight to it. Documents of kinds the mesh does not read (Deployments,
//! ServiceAccounts, …) are skipped, not errors: a directory of ordinary Kubernetes
//! manifests (Istio's samples, say) loads as it is.

use std::fmt;

use k8s_openapi::api::core::v1::Service;
use kube::core::ObjectMeta;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::object::{DEFAULT_NAMESPACE, Kind, MeshObject, ObjectRef, TypeMetaError};

mod files;
mod split;
mod unsupported;

pub use files::manifest_files;

use split::{DocumentText, split_documents};

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

/// The envelope shared by our CRD kinds: `status` is written by servers, never read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Envelope<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: ObjectMeta,
    #[serde(default = "Option::default")]
    spec: Option<S>,
    #[allow(dead_code)]
    #[serde(default)]
    status: Option<IgnoredAny>,
}

/// What the first look at a document finds: enough to name it and pick its type.
#[derive(Debug)]
struct Header {
    api_version: String,
    kind: String,
    name: Option<String>,
    namespace: Option<String>,
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
        match parse_document(&doc, location.clone()) {
            Ok(DocumentOutcome::Object(object)) => {
                parsed.objects.push(ParsedObject { object, location })
            }
            Ok(DocumentOutcome::Skipped { api_version, kind }) => {
                parsed.skipped.push(SkippedDocument {
                    location,
                    api_version,
                    kind,
                })
            }
            Err(err) => parsed.errors.push(*err),
        }
    }
    parsed
}

enum DocumentOutcome {
    Object(MeshObject),
    Skipped { api_version: String, kind: String },
}

fn parse_document(
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
    let value: serde_yaml::Value = serde_yaml::from_str(doc.text).map_err(|e| {
        let mut err = error(None, None, format!("invalid YAML: {e}"));
        if let Some(loc) = e.location() {
            err.location.line = doc.first_line + loc.line() - 1;
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
    let object_ref = ObjectRef {
        kind,
        namespace: header
            .namespace
            .clone()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
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
    let source = match prune_nulls(value) {
        Some(pruned) => Source::Value(pruned),
        None => Source::Text(doc.text),
    };
    let mut object = deserialize_object(kind, &source).map_err(|e| {
        let mut err = error(Some(object_ref.clone()), e.field, e.message);
        if let Some(line) = e.line {
            err.location.line = doc.first_line + line - 1;
        }
        err
    })?;
    if header.namespace.is_none() {
        set_namespace(&mut object, DEFAULT_NAMESPACE);
    }
    Ok(DocumentOutcome::Object(object))
}

fn read_header(value: &serde_yaml::Value) -> Result<Header, (String, String)> {
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

/// A deserialization failure: the field path and the line, when serde could tell.
struct FieldError {
    field: Option<String>,
    line: Option<usize>,
    message: String,
}

/// What a document is deserialized from.
enum Source<'a> {
    /// The document's text: errors carry lines.
    Text(&'a str),
    /// A pruned copy of the document.
    Value(serde_yaml::Value),
}

/// The document without null-valued mapping entries, or `None` when it has none.
fn prune_nulls(mut value: serde_yaml::Value) -> Option<serde_yaml::Value> {
    fn prune(value: &mut serde_yaml::Value) -> bool {
        match value {
            serde_yaml::Value::Mapping(map) => {
                let before = map.len();
                map.retain(|_, v| !v.is_null());
                let mut pruned = map.len() != before;
                for (_, v) in map.iter_mut() {
                    pruned |= prune(v);
                }
                pruned
            }
            serde_yaml::Value::Sequence(items) => {
                // Every item is pruned: no short-circuit.
                let mut pruned = false;
                for item in items {
                    pruned |= prune(item);
                }
                pruned
            }
            _ => false,
        }
    }
    prune(&mut value).then_some(value)
}

fn deserialize_object(kind: Kind, text: &Source<'_>) -> Result<MeshObject, FieldError> {
    use crate::networking as net;
    use crate::security as sec;
    Ok(match kind {
        Kind::Service => MeshObject::Service(Box::new(deserialize::<Service>(text)?)),
        Kind::VirtualService => {
            let (metadata, spec) = custom_resource::<net::VirtualServiceSpec>(text)?;
            MeshObject::VirtualService(Box::new(with_metadata(
                net::VirtualService::new("", spec),
                metadata,
            )))
        }
        Kind::DestinationRule => {
            let (metadata, spec) = custom_resource::<net::DestinationRuleSpec>(text)?;
            MeshObject::DestinationRule(Box::new(with_metadata(
                net::DestinationRule::new("", spec),
                metadata,
            )))
        }
        Kind::ServiceEntry => {
            let (metadata, spec) = custom_resource::<net::ServiceEntrySpec>(text)?;
            MeshObject::ServiceEntry(Box::new(with_metadata(
                net::ServiceEntry::new("", spec),
                metadata,
            )))
        }
        Kind::Gateway => {
            let (metadata, spec) = custom_resource::<net::GatewaySpec>(text)?;
            MeshObject::Gateway(Box::new(with_metadata(
                net::Gateway::new("", spec),
                metadata,
            )))
        }
        Kind::Sidecar => {
            let (metadata, spec) = custom_resource::<net::SidecarSpec>(text)?;
            MeshObject::Sidecar(Box::new(with_metadata(
                net::Sidecar::new("", spec),
                metadata,
            )))
        }
        Kind::WorkloadEntry => {
            let (metadata, spec) = custom_resource::<net::WorkloadEntrySpec>(text)?;
            MeshObject::WorkloadEntry(Box::new(with_metadata(
                net::WorkloadEntry::new("", spec),
                metadata,
            )))
        }
        Kind::PeerAuthentication => {
            let (metadata, spec) = custom_resource::<sec::PeerAuthenticationSpec>(text)?;
            MeshObject::PeerAuthentication(Box::new(with_metadata(
                sec::PeerAuthentication::new("", spec),
                metadata,
            )))
        }
        Kind::AuthorizationPolicy => {
            let (metadata, spec) = custom_resource::<sec::AuthorizationPolicySpec>(text)?;
            MeshObject::AuthorizationPolicy(Box::new(with_metadata(
                sec::AuthorizationPolicy::new("", spec),
                metadata,
            )))
        }
        Kind::RequestAuthentication => {
            let (metadata, spec) = custom_resource::<sec::RequestAuthenticationSpec>(text)?;
            MeshObject::RequestAuthentication(Box::new(with_metadata(
                sec::RequestAuthentication::new("", spec),
                metadata,
            )))
        }
    })
}

/// Gives a resource built with kube's `new` (which sets only the name) its full metadata.
fn with_metadata<K: kube::Resource>(mut resource: K, metadata: ObjectMeta) -> K {
    *resource.meta_mut() = metadata;
    resource
}

fn custom_resource<S: DeserializeOwned + Default>(
    text: &Source<'_>,
) -> Result<(ObjectMeta, S), FieldError> {
    let envelope: Envelope<S> = deserialize(text)?;
    // Like the API server, an object without a spec is an object with an empty spec
    // (`AuthorizationPolicy` with no spec is the documented deny-all).
    Ok((envelope.metadata, envelope.spec.unwrap_or_default()))
}

fn deserialize<T: DeserializeOwned>(source: &Source<'_>) -> Result<T, FieldError> {
    let result = match source {
        Source::Text(text) => {
            serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text))
        }
        Source::Value(value) => serde_path_to_error::deserialize(value.clone()),
    };
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.location().map(|l| l.line());
        FieldError {
            field: (path != ".").then_some(path),
            line,
            message: strip_location(&inner.to_string()),
        }
    })
}

/// serde_yaml decorates its messages with the path (`spec.x: `) and " at line L column
/// C"; we report both ourselves, the line relative to the file rather than the document.
fn strip_location(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let is_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || "._-[]".contains(c))
    };
    match message.split_once(": ") {
        Some((prefix, rest)) if is_path(prefix) && !rest.is_empty() => rest.to_string(),
        _ => message.to_string(),
    }
}

fn set_namespace(object: &mut MeshObject, namespace: &str) {
    let meta = match object {
        MeshObject::Service(o) => &mut o.metadata,
        MeshObject::VirtualService(o) => &mut o.metadata,
        MeshObject::DestinationRule(o) => &mut o.metadata,
        MeshObject::ServiceEntry(o) => &mut o.metadata,
        MeshObject::Gateway(o) => &mut o.metadata,
        MeshObject::Sidecar(o) => &mut o.metadata,
        MeshObject::WorkloadEntry(o) => &mut o.metadata,
        MeshObject::PeerAuthentication(o) => &mut o.metadata,
        MeshObject::AuthorizationPolicy(o) => &mut o.metadata,
        MeshObject::RequestAuthentication(o) => &mut o.metadata,
    };
    meta.namespace = Some(namespace.to_string());
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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
