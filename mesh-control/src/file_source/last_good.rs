//! A re-read file as an event: its good documents, and for a bad one the last good
//! version of its object, so that a typo never takes an object away.
//!
//! Pure: the previous objects come from the store, the parse from the caller.

use std::collections::BTreeMap;

use mesh_api::manifest::{ManifestError, ParsedFile};
use mesh_api::object::ObjectRef;

use crate::config::{ConfigEvent, Origin, StoredObject};

/// What re-reading one file found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileUpdate {
    /// The file's bad documents.
    pub errors: Vec<ManifestError>,
    /// Objects whose previous version stays in force because the new one is bad.
    pub kept: Vec<ObjectRef>,
}

/// The reset of `origin` for a fresh parse of its file, given what it held before.
///
/// Good documents replace their objects. A bad document that can be identified
/// keeps its object's last good version; if any document cannot even be
/// identified (broken YAML), every previous object of the file that the new parse
/// did not produce is kept, since any of them may be the broken one.
pub fn file_reset(
    origin: Origin,
    previous: Vec<StoredObject>,
    parsed: ParsedFile,
) -> (ConfigEvent, FileUpdate) {
    let unidentified = parsed.errors.iter().any(|e| e.object.is_none());
    let failed: Vec<ObjectRef> = parsed.failed_objects().cloned().collect();
    let mut objects: BTreeMap<ObjectRef, StoredObject> = parsed
        .objects
        .into_iter()
        .map(|p| {
            let stored = StoredObject::from(p);
            (stored.object_ref(), stored)
        })
        .collect();
    let mut kept = Vec::new();
    for old in previous {
        let r = old.object_ref();
        if objects.contains_key(&r) {
            continue;
        }
        if unidentified || failed.contains(&r) {
            kept.push(r.clone());
            objects.insert(r, old);
        }
    }
    let errors = parsed.errors;
    let event = ConfigEvent::Reset {
        origin,
        objects: objects.into_values().collect(),
        errors: errors.clone(),
    };
    (event, FileUpdate { errors, kept })
}

#[cfg(test)]
mod tests;
