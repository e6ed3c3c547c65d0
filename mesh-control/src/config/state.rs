//! The store and the model kept in step: each batch of events updates the model
//! with the objects that changed in force, and makes the next snapshot.
//!
//! Pure: no threads, no channels; [`super::ConfigHub`] publishes what this makes.

use std::sync::Arc;

use mesh_api::model::{MeshModel, MeshSettings, ModelDelta};

use super::event::ConfigEvent;
use super::snapshot::ConfigSnapshot;
use super::store::ConfigStore;

/// Everything the sources said so far, and the snapshot it makes.
#[derive(Debug)]
pub struct ConfigState {
    store: ConfigStore,
    current: ConfigSnapshot,
}

impl ConfigState {
    /// No objects yet: version 0, which is not ready.
    pub fn new(settings: MeshSettings) -> ConfigState {
        let model = MeshModel::build(Vec::new(), settings);
        ConfigState {
            store: ConfigStore::default(),
            current: ConfigSnapshot {
                model: Arc::new(model),
                ..ConfigSnapshot::default()
            },
        }
    }

    /// Applies a batch of events. Returns the new snapshot when the objects in
    /// force or their problems changed, and always for the first batch (the
    /// sources' initial state, even an empty one, makes the config ready).
    pub fn apply(&mut self, events: Vec<ConfigEvent>) -> Option<&ConfigSnapshot> {
        let changes = self.store.apply(events);
        let errors = self.errors();
        let first = self.current.version == 0;
        if changes.is_empty() && errors == self.current.errors && !first {
            return None;
        }
        let (model, delta) = if changes.is_empty() {
            (self.current.model.clone(), ModelDelta::default())
        } else {
            let (model, delta) = self.current.model.update(&changes);
            (Arc::new(model), delta)
        };
        let version = self.current.version + 1;
        let endpoints: usize = model.services.values().map(|s| s.endpoints.len()).sum();
        tracing::info!(
            version,
            changed_objects = changes.len(),
            full = delta.full,
            changed_endpoints = delta.endpoints.len(),
            objects = model.objects.len(),
            services = model.services.len(),
            endpoints,
            errors = errors.len(),
            "config updated"
        );
        self.current = ConfigSnapshot {
            version,
            model,
            errors,
            changes: self.current.changes.with(version, delta),
        };
        Some(&self.current)
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> &ConfigSnapshot {
        &self.current
    }

    /// What every source can read of how origins stand (a file's last good objects).
    pub fn store(&self) -> &ConfigStore {
        &self.store
    }

    fn errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = self.store.errors().map(ToString::to_string).collect();
        errors.extend(self.store.duplicates().iter().map(ToString::to_string));
        errors
    }
}

#[cfg(test)]
mod tests;
