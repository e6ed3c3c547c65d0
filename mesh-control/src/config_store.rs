//! The objects of a config directory, file by file, keeping the last good version of
//! anything whose new version is bad.
//!
//! Pure: the file source feeds it parsed files; it never touches the file system.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesh_api::manifest::{Location, ManifestError, ParsedFile};
use mesh_api::object::{MeshObject, ObjectRef};

/// The objects currently in force, per file.
#[derive(Debug, Default)]
pub struct ConfigStore {
    files: BTreeMap<String, FileObjects>,
}

#[derive(Debug, Default, Clone)]
struct FileObjects {
    objects: BTreeMap<ObjectRef, (Arc<MeshObject>, Location)>,
    errors: Vec<ManifestError>,
}

/// A problem with the set of files as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{object} is defined in {first} and again in {duplicate}; the first definition is used, remove one"
)]
pub struct DuplicateObject {
    pub object: ObjectRef,
    pub first: Location,
    pub duplicate: Location,
}

/// What updating one file did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileUpdate {
    /// The file's bad documents.
    pub errors: Vec<ManifestError>,
    /// Objects whose previous version stays in force because the new one is bad.
    pub kept: Vec<ObjectRef>,
}

impl ConfigStore {
    /// Replaces what `file` contributes with a fresh parse of it.
    ///
    /// Good documents replace their objects. A bad document that can be identified
    /// keeps its object's last good version; if any document cannot even be
    /// identified (broken YAML), every previous object of the file that the new parse
    /// did not produce is kept, since any of them may be the broken one.
    pub fn update_file(&mut self, file: &str, parsed: ParsedFile) -> FileUpdate {
        let previous = self.files.remove(file).unwrap_or_default();
        let unidentified = parsed.errors.iter().any(|e| e.object.is_none());
        let failed: Vec<ObjectRef> = parsed.failed_objects().cloned().collect();
        let mut objects: BTreeMap<ObjectRef, (Arc<MeshObject>, Location)> = parsed
            .objects
            .into_iter()
            .map(|p| (p.object.object_ref(), (Arc::new(p.object), p.location)))
            .collect();
        let mut kept = Vec::new();
        for (r, old) in previous.objects {
            if objects.contains_key(&r) {
                continue;
            }
            if unidentified || failed.contains(&r) {
                kept.push(r.clone());
                objects.insert(r, old);
            }
        }
        let errors = parsed.errors;
        self.files.insert(
            file.to_string(),
            FileObjects {
                objects,
                errors: errors.clone(),
            },
        );
        FileUpdate { errors, kept }
    }

    /// Forgets a file that was deleted: its objects are gone on purpose.
    pub fn remove_file(&mut self, file: &str) -> bool {
        self.files.remove(file).is_some()
    }

    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// Current errors of every file.
    pub fn errors(&self) -> impl Iterator<Item = &ManifestError> {
        self.files.values().flat_map(|f| f.errors.iter())
    }

    /// The objects in force. When two files define the same object, the file that
    /// sorts first wins and the other is reported.
    pub fn objects(&self) -> (Vec<Arc<MeshObject>>, Vec<DuplicateObject>) {
        let mut seen: BTreeMap<&ObjectRef, (&Arc<MeshObject>, &Location)> = BTreeMap::new();
        let mut duplicates = Vec::new();
        for file in self.files.values() {
            for (r, (object, location)) in &file.objects {
                match seen.get(r) {
                    Some((_, first)) => duplicates.push(DuplicateObject {
                        object: r.clone(),
                        first: (*first).clone(),
                        duplicate: location.clone(),
                    }),
                    None => {
                        seen.insert(r, (object, location));
                    }
                }
            }
        }
        (
            seen.into_values().map(|(o, _)| o.clone()).collect(),
            duplicates,
        )
    }
}

#[cfg(test)]
mod tests;
