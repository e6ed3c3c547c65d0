//! Every object of every origin, and which version of each is in force.
//!
//! Pure: sources feed it events; it never touches files or the network.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use mesh_api::manifest::{Location, ManifestError};
use mesh_api::model::ObjectChange;
use mesh_api::object::{MeshObject, ObjectRef};

use super::event::{ConfigEvent, Origin, StoredObject};

/// The objects of every origin.
#[derive(Debug, Default)]
pub struct ConfigStore {
    origins: BTreeMap<Origin, OriginObjects>,
    /// Which origins hold each object, in order: the first is in force.
    holders: BTreeMap<ObjectRef, BTreeSet<Origin>>,
    /// Objects more than one origin holds, so that reporting them does not go
    /// through every object.
    duplicated: BTreeSet<ObjectRef>,
}

#[derive(Debug, Default)]
struct OriginObjects {
    objects: BTreeMap<ObjectRef, StoredObject>,
    errors: Vec<ManifestError>,
    /// Objects whose latest version was invalid (their last good one, if any, is in
    /// `objects`), until the origin applies or deletes them.
    invalid: BTreeMap<ObjectRef, ManifestError>,
}

/// An object that two origins hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{object} is defined in {first} and again in {duplicate}; the first definition is used, remove one"
)]
pub struct DuplicateObject {
    pub object: ObjectRef,
    pub first: Location,
    pub duplicate: Location,
}

impl OriginObjects {
    fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.errors.is_empty() && self.invalid.is_empty()
    }
}

impl ConfigStore {
    /// Applies `events` in order; returns the objects whose version in force
    /// changed, with their new version (`None`: none is left).
    pub fn apply(&mut self, events: Vec<ConfigEvent>) -> Vec<ObjectChange> {
        let mut touched: BTreeMap<ObjectRef, Option<Arc<MeshObject>>> = BTreeMap::new();
        for event in events {
            let origin = event.origin().clone();
            match event {
                ConfigEvent::Apply { object, .. } => {
                    let r = object.object_ref();
                    self.remember(&mut touched, &r);
                    self.hold(&r, &origin);
                    let held = self.origins.entry(origin).or_default();
                    held.invalid.remove(&r);
                    held.objects.insert(r, object);
                }
                ConfigEvent::Delete { object_ref, .. } => {
                    self.remember(&mut touched, &object_ref);
                    self.forget(&origin, &object_ref);
                    if let Some(held) = self.origins.get_mut(&origin) {
                        held.invalid.remove(&object_ref);
                        if held.is_empty() {
                            self.origins.remove(&origin);
                        }
                    }
                }
                ConfigEvent::Invalid {
                    object_ref, error, ..
                } => {
                    self.origins
                        .entry(origin)
                        .or_default()
                        .invalid
                        .insert(object_ref, error);
                }
                ConfigEvent::Reset {
                    objects, errors, ..
                } => {
                    let previous: Vec<ObjectRef> = self
                        .origins
                        .get(&origin)
                        .map(|o| o.objects.keys().cloned().collect())
                        .unwrap_or_default();
                    for r in &previous {
                        self.remember(&mut touched, r);
                        self.forget(&origin, r);
                    }
                    let mut held = OriginObjects {
                        objects: BTreeMap::new(),
                        errors,
                        invalid: BTreeMap::new(),
                    };
                    for object in objects {
                        let r = object.object_ref();
                        self.remember(&mut touched, &r);
                        self.hold(&r, &origin);
                        held.objects.insert(r, object);
                    }
                    self.origins.remove(&origin);
                    if !held.is_empty() {
                        self.origins.insert(origin, held);
                    }
                }
            }
        }
        touched
            .into_iter()
            .filter_map(|(r, before)| {
                let now = self.in_force(&r).map(|o| o.object.clone());
                let same = match (&before, &now) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                    (None, None) => true,
                    _ => false,
                };
                (!same).then_some(ObjectChange {
                    object_ref: r,
                    object: now,
                })
            })
            .collect()
    }

    /// Records the version in force of `r` before a batch first touches it.
    fn remember(&self, touched: &mut BTreeMap<ObjectRef, Option<Arc<MeshObject>>>, r: &ObjectRef) {
        if !touched.contains_key(r) {
            touched.insert(r.clone(), self.in_force(r).map(|o| o.object.clone()));
        }
    }

    fn hold(&mut self, r: &ObjectRef, origin: &Origin) {
        let holders = self.holders.entry(r.clone()).or_default();
        holders.insert(origin.clone());
        if holders.len() > 1 {
            self.duplicated.insert(r.clone());
        }
    }

    fn forget(&mut self, origin: &Origin, r: &ObjectRef) {
        if let Some(held) = self.origins.get_mut(origin) {
            held.objects.remove(r);
        }
        if let Some(holders) = self.holders.get_mut(r) {
            holders.remove(origin);
            if holders.len() < 2 {
                self.duplicated.remove(r);
            }
            if holders.is_empty() {
                self.holders.remove(r);
            }
        }
    }

    /// The version of `r` in force: the first origin's that holds it.
    pub fn in_force(&self, r: &ObjectRef) -> Option<&StoredObject> {
        let origin = self.holders.get(r)?.first()?;
        self.origins.get(origin)?.objects.get(r)
    }

    /// What `origin` holds.
    pub fn objects_of(&self, origin: &Origin) -> impl Iterator<Item = &StoredObject> {
        self.origins
            .get(origin)
            .into_iter()
            .flat_map(|o| o.objects.values())
    }

    /// Every object in force, in reference order.
    pub fn objects(&self) -> Vec<Arc<MeshObject>> {
        self.holders
            .keys()
            .filter_map(|r| self.in_force(r))
            .map(|o| o.object.clone())
            .collect()
    }

    /// Current problems of every origin.
    pub fn errors(&self) -> impl Iterator<Item = &ManifestError> {
        self.origins
            .values()
            .flat_map(|o| o.errors.iter().chain(o.invalid.values()))
    }

    /// Whether `origin` holds anything or has a problem.
    pub fn has(&self, origin: &Origin) -> bool {
        self.origins.contains_key(origin)
    }

    /// Objects held by more than one origin, each with the one in force.
    pub fn duplicates(&self) -> Vec<DuplicateObject> {
        let mut found = Vec::new();
        for (r, holders) in self
            .duplicated
            .iter()
            .filter_map(|r| Some((r, self.holders.get(r)?)))
        {
            let mut locations = holders
                .iter()
                .filter_map(|o| self.origins.get(o)?.objects.get(r))
                .map(|o| o.location.clone());
            let Some(first) = locations.next() else {
                continue;
            };
            found.extend(locations.map(|duplicate| DuplicateObject {
                object: r.clone(),
                first: first.clone(),
                duplicate,
            }));
        }
        found
    }
}

#[cfg(test)]
mod tests;
