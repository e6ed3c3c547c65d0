//! What the analyzers read: every object of the input, of mesh's kinds and of the
//! Kubernetes and Istio kinds that Istio's analyzers inspect (Pods, Deployments,
//! Namespaces, Secrets, webhook configurations, Telemetry, Gateway API objects, …),
//! each with its whole content and the line of each of its fields.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::manifest::{FieldLines, Location, RawDocument};
use crate::object::{DEFAULT_NAMESPACE, Kind, MeshObject, TypeMetaError};

/// The kind of an analyzed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKind {
    /// A kind the control plane reads.
    Mesh(Kind),
    Pod,
    Deployment,
    Namespace,
    Node,
    Secret,
    ConfigMap,
    MutatingWebhookConfiguration,
    ValidatingWebhookConfiguration,
    CustomResourceDefinition,
    Telemetry,
    ProxyConfig,
    WasmPlugin,
    /// Gateway API's `Gateway` (`gateway.networking.k8s.io`).
    KubernetesGateway,
    HttpRoute,
    GrpcRoute,
}

/// One object of the input.
#[derive(Debug, Clone)]
pub struct InputObject {
    pub kind: InputKind,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
    /// The whole object, as written.
    pub value: Value,
    /// `None` for the objects istioctl assumes in files-only analysis.
    pub location: Option<Location>,
    pub lines: FieldLines,
    /// The typed object, for mesh's kinds that passed schema validation.
    pub mesh: Option<Arc<MeshObject>>,
    /// Whether an earlier document defines the same object.
    pub duplicate: bool,
}

impl InputKind {
    /// Resolves a document's `apiVersion` and `kind`; `None` for kinds no analyzer reads.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Option<InputKind> {
        match Kind::from_type_meta(api_version, kind) {
            Ok(Kind::Pod) => return Some(InputKind::Pod),
            Ok(Kind::Namespace) => return Some(InputKind::Namespace),
            Ok(k) => return Some(InputKind::Mesh(k)),
            Err(TypeMetaError::UnsupportedVersion { kind, .. }) => {
                return Some(InputKind::Mesh(kind));
            }
            Err(TypeMetaError::UnknownKind { .. }) => {}
        }
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Some(match (group, kind) {
            ("", "Pod") => InputKind::Pod,
            ("", "Namespace") => InputKind::Namespace,
            ("", "Node") => InputKind::Node,
            ("", "Secret") => InputKind::Secret,
            ("", "ConfigMap") => InputKind::ConfigMap,
            ("apps", "Deployment") => InputKind::Deployment,
            ("admissionregistration.k8s.io", "MutatingWebhookConfiguration") => {
                InputKind::MutatingWebhookConfiguration
            }
            ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration") => {
                InputKind::ValidatingWebhookConfiguration
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                InputKind::CustomResourceDefinition
            }
            ("telemetry.istio.io", "Telemetry") => InputKind::Telemetry,
            ("networking.istio.io", "ProxyConfig") => InputKind::ProxyConfig,
            ("extensions.istio.io", "WasmPlugin") => InputKind::WasmPlugin,
            ("gateway.networking.k8s.io", "Gateway") => InputKind::KubernetesGateway,
            ("gateway.networking.k8s.io", "HTTPRoute") => InputKind::HttpRoute,
            ("gateway.networking.k8s.io", "GRPCRoute") => InputKind::GrpcRoute,
            _ => return None,
        })
    }

    /// The `kind:` of manifests, as messages name it.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Mesh(k) => k.as_str(),
            InputKind::Pod => "Pod",
            InputKind::Deployment => "Deployment",
            InputKind::Namespace => "Namespace",
            InputKind::Node => "Node",
            InputKind::Secret => "Secret",
            InputKind::ConfigMap => "ConfigMap",
            InputKind::MutatingWebhookConfiguration => "MutatingWebhookConfiguration",
            InputKind::ValidatingWebhookConfiguration => "ValidatingWebhookConfiguration",
            InputKind::CustomResourceDefinition => "CustomResourceDefinition",
            InputKind::Telemetry => "Telemetry",
            InputKind::ProxyConfig => "ProxyConfig",
            InputKind::WasmPlugin => "WasmPlugin",
            InputKind::KubernetesGateway => "Gateway",
            InputKind::HttpRoute => "HTTPRoute",
            InputKind::GrpcRoute => "GRPCRoute",
        }
    }

    /// Kinds whose objects live outside namespaces.
    pub fn is_cluster_scoped(self) -> bool {
        matches!(
            self,
            InputKind::Namespace
                | InputKind::Node
                | InputKind::MutatingWebhookConfiguration
                | InputKind::ValidatingWebhookConfiguration
                | InputKind::CustomResourceDefinition
        )
    }
}

impl fmt::Display for InputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl InputObject {
    /// An entry for a document of a kind some analyzer reads.
    pub(crate) fn from_document(kind: InputKind, doc: RawDocument) -> InputObject {
        let namespace = if kind.is_cluster_scoped() {
            String::new()
        } else {
            doc.namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
        };
        let mesh = match doc.mesh {
            Some(Ok(object)) => Some(Arc::new(object)),
            _ => None,
        };
        InputObject {
            kind,
            namespace,
            name: doc.name.unwrap_or_default(),
            value: doc.value,
            location: Some(doc.location),
            lines: doc.lines,
            mesh,
            duplicate: false,
        }
    }

    /// `Kind namespace/name`, or `Kind name` for cluster-scoped objects.
    pub fn origin(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// `namespace/name` (`name` when cluster-scoped), as Istio's messages name objects.
    pub fn full_name(&self) -> String {
        if self.namespace.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.namespace, self.name)
        }
    }

    pub fn spec(&self) -> &Value {
        &self.value["spec"]
    }

    pub fn labels(&self) -> BTreeMap<String, String> {
        string_map(&self.value["metadata"]["labels"])
    }

    pub fn annotations(&self) -> BTreeMap<String, String> {
        string_map(&self.value["metadata"]["annotations"])
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.value["metadata"]["labels"][key].as_str()
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.value["metadata"]["annotations"][key].as_str()
    }

    /// `file:line` of `field` (or of the object when the field has no line of its own).
    pub fn reference(&self, field: Option<&str>) -> Option<String> {
        let location = self.location.as_ref()?;
        let line = field
            .and_then(|f| self.lines.line_of(f))
            .unwrap_or(location.line);
        Some(format!("{}:{line}", location.file))
    }
}

/// A JSON object of scalars as strings (labels, annotations, selectors); numbers and
/// booleans are written as YAML would print them, other values are left out.
pub(crate) fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), scalar_string(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// A scalar as the string YAML would read it as.
pub(crate) fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The strings of a JSON array (other items left out).
pub(crate) fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The items of a JSON array, empty when it is not one.
pub(crate) fn items(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Namespaces whose objects Istio's analysis ignores (the Kubernetes system's own).
const IGNORED_NAMESPACES: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// Every object of the input, and what reading it found.
#[derive(Debug, Default)]
pub(crate) struct ReadInputs {
    pub(crate) entries: Vec<InputObject>,
    /// Unreadable documents, schema errors and duplicates.
    pub(crate) messages: Vec<super::Message>,
    pub(crate) objects: usize,
    pub(crate) skipped: usize,
}

/// Reads every file; appends the objects istioctl assumes without a cluster.
pub(crate) fn read_inputs(
    files: &[(String, String)],
    mesh_config: &super::MeshConfig,
) -> ReadInputs {
    use super::codes;
    let mut read = ReadInputs::default();
    let mut seen: BTreeMap<(InputKind, String, String), Location> = BTreeMap::new();
    for (name, text) in files {
        let (documents, errors) = crate::manifest::read_documents(name, text);
        for error in errors {
            read.messages.push(schema_error(&error));
        }
        for doc in documents {
            let Some(kind) = InputKind::from_type_meta(&doc.api_version, &doc.kind) else {
                read.skipped += 1;
                continue;
            };
            if let Some(Err(error)) = &doc.mesh {
                read.messages.push(schema_error(error));
            }
            let mut entry = InputObject::from_document(kind, doc);
            let ignored_namespace = if kind == InputKind::Namespace {
                &entry.name
            } else {
                &entry.namespace
            };
            if IGNORED_NAMESPACES.contains(&ignored_namespace.as_str()) {
                read.skipped += 1;
                continue;
            }
            read.objects += 1;
            let key = (kind, entry.namespace.clone(), entry.name.clone());
            let Some(location) = entry.location.clone() else {
                continue;
            };
            if let Some(first) = seen.get(&key) {
                entry.duplicate = true;
                let mut m = super::Message::unlocated(
                    codes::DUPLICATE_OBJECT,
                    entry.origin(),
                    entry.reference(None),
                    None,
                    format!(
                        "{} is also defined at {}:{}; the first definition is the one applied, both are analyzed",
                        entry.origin(),
                        first.file,
                        first.line
                    ),
                    "remove one of the two definitions, or rename one".to_string(),
                );
                m.namespace = Some(entry.namespace.clone()).filter(|n| !n.is_empty());
                read.messages.push(m);
            } else {
                seen.insert(key, location);
            }
            read.entries.push(entry);
        }
    }
    if !mesh_config.ingress_controller_off {
        for entry in super::defaults::default_entries(&mesh_config.root_namespace) {
            let key = (entry.kind, entry.namespace.clone(), entry.name.clone());
            if !seen.contains_key(&key) {
                read.entries.push(entry);
            }
        }
    }
    read
}

fn schema_error(error: &crate::manifest::ManifestError) -> super::Message {
    let origin = error.object.as_ref().map_or_else(
        || {
            format!(
                "document {} of {}",
                error.location.document, error.location.file
            )
        },
        ToString::to_string,
    );
    let mut m = super::Message::unlocated(
        super::codes::SCHEMA_VALIDATION_ERROR,
        origin,
        Some(format!("{}:{}", error.location.file, error.location.line)),
        error.field.clone(),
        error.message.clone(),
        "correct the field as the message says; docs/reference/config.md lists every field"
            .to_string(),
    );
    m.namespace = error.object.as_ref().map(|o| o.namespace.clone());
    m
}
