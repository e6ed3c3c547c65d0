//! What sources tell the config store: which objects an origin now holds.

use std::fmt;
use std::sync::Arc;

use mesh_api::manifest::{Location, ManifestError, ParsedFile, ParsedObject};
use mesh_api::object::{MeshObject, ObjectRef};

/// Where objects come from. Each source edits only its own origins; when two
/// origins hold the same object, the first in this order is in force.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// A manifest of the config directory, by its path relative to the directory.
    File(String),
    /// One watch of the Kubernetes API: a resource, in one namespace or all.
    Kubernetes(KubeWatch),
}

/// What one Kubernetes watch covers: its objects are one origin, so that a relist
/// of the watch replaces exactly them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeWatch {
    /// `services`, `endpointslices.discovery.k8s.io`, `virtualservices.networking.istio.io`.
    pub resource: String,
    /// The namespace watched; `None` for all namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
}

/// An object as an origin holds it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    pub object: Arc<MeshObject>,
    /// Where users find it (file, document, line).
    pub location: Location,
}

/// A change of what one origin holds.
#[derive(Debug, Clone)]
pub enum ConfigEvent {
    /// The origin holds this version of the object (added or changed).
    Apply {
        origin: Origin,
        object: StoredObject,
    },
    /// The origin no longer holds the object.
    Delete {
        origin: Origin,
        object_ref: ObjectRef,
    },
    /// The origin holds exactly these objects and has these problems, and nothing
    /// else: a re-read file, a re-listed watch. No objects and no errors remove it.
    Reset {
        origin: Origin,
        objects: Vec<StoredObject>,
        errors: Vec<ManifestError>,
    },
    /// The origin's new version of an object is invalid: the version it held before
    /// (if any) stays in force, and the error is reported until the object is applied
    /// again or deleted (a Kubernetes object that got past validation).
    Invalid {
        origin: Origin,
        object_ref: ObjectRef,
        error: ManifestError,
    },
}

impl StoredObject {
    pub fn object_ref(&self) -> ObjectRef {
        self.object.object_ref()
    }
}

impl From<ParsedObject> for StoredObject {
    fn from(parsed: ParsedObject) -> StoredObject {
        StoredObject {
            object: Arc::new(parsed.object),
            location: parsed.location,
        }
    }
}

impl ConfigEvent {
    /// `origin` holds exactly the good objects of a parsed file and has its errors
    /// (the file source adds the last good version of bad documents first, see
    /// `file_source::file_reset`).
    pub fn reset_to_file(origin: Origin, parsed: ParsedFile) -> ConfigEvent {
        ConfigEvent::Reset {
            origin,
            objects: parsed.objects.into_iter().map(StoredObject::from).collect(),
            errors: parsed.errors,
        }
    }

    pub fn origin(&self) -> &Origin {
        match self {
            ConfigEvent::Apply { origin, .. }
            | ConfigEvent::Delete { origin, .. }
            | ConfigEvent::Reset { origin, .. }
            | ConfigEvent::Invalid { origin, .. } => origin,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(path) => write!(f, "file {path}"),
            Origin::Kubernetes(watch) => write!(f, "{watch}"),
        }
    }
}

impl fmt::Display for KubeWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "Kubernetes {} in {namespace}", self.resource),
            None => write!(f, "Kubernetes {}", self.resource),
        }
    }
}
