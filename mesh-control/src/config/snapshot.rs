//! The config in force as published to the rest of the control plane, with what
//! changed over its last versions.

use std::sync::Arc;

use mesh_api::model::{MeshModel, ModelDelta};

/// How many versions back a snapshot remembers what changed. A proxy further behind
/// (it has not been pushed for that many changes) is re-translated in full.
const HISTORY: usize = 64;

/// The config in force.
#[derive(Debug, Clone, Default)]
pub struct ConfigSnapshot {
    /// Increases by one with every change of the objects in force or their problems.
    pub version: u64,
    pub model: Arc<MeshModel>,
    /// Every current problem, one line each (`file:line (document N): Kind ns/name: field: …`).
    pub errors: Vec<String>,
    /// What each of the latest versions changed.
    pub changes: ChangeHistory,
}

/// What each of the latest versions changed in the model, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ChangeHistory {
    versions: Arc<[(u64, Arc<ModelDelta>)]>,
}

impl ConfigSnapshot {
    /// What changed from `version` to this snapshot's version; `None` when that is
    /// not known (too far back, or not an earlier version): treat it as everything.
    pub fn delta_since(&self, version: u64) -> Option<ModelDelta> {
        if version == self.version {
            return Some(ModelDelta::default());
        }
        if version > self.version {
            return None;
        }
        let versions = &self.changes.versions;
        let start = versions.iter().position(|(v, _)| *v == version + 1)?;
        let mut delta = ModelDelta::default();
        for (_, d) in &versions[start..] {
            delta.merge(d);
        }
        // Only a complete run of versions up to this one says what changed.
        let complete = versions.last().is_some_and(|(v, _)| *v == self.version)
            && versions.len() - start == (self.version - version) as usize;
        complete.then_some(delta)
    }
}

impl ChangeHistory {
    /// The history with `version`'s delta added, forgetting the oldest beyond the limit.
    pub fn with(&self, version: u64, delta: ModelDelta) -> ChangeHistory {
        let skip = (self.versions.len() + 1).saturating_sub(HISTORY);
        let versions: Vec<(u64, Arc<ModelDelta>)> = self
            .versions
            .iter()
            .skip(skip)
            .cloned()
            .chain([(version, Arc::new(delta))])
            .collect();
        ChangeHistory {
            versions: versions.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints_of(service: &str) -> ModelDelta {
        ModelDelta {
            endpoints: [service.to_string()].into(),
            ..ModelDelta::default()
        }
    }

    #[test]
    fn the_delta_since_a_version_merges_every_later_change_and_forgets_old_ones() {
        let mut snapshot = ConfigSnapshot::default();
        for (version, service) in [(1, "a"), (2, "b"), (3, "c")] {
            snapshot = ConfigSnapshot {
                version,
                changes: snapshot.changes.with(version, endpoints_of(service)),
                ..snapshot
            };
        }
        let since_1 = snapshot.delta_since(1).unwrap();
        assert_eq!(since_1.endpoints.len(), 2, "{since_1:?}");
        assert!(snapshot.delta_since(3).unwrap().is_empty());
        assert_eq!(snapshot.delta_since(0).unwrap().endpoints.len(), 3);
        assert!(
            snapshot.delta_since(4).is_none(),
            "a version from the future"
        );
        for version in 4..(4 + HISTORY as u64) {
            snapshot = ConfigSnapshot {
                version,
                changes: snapshot.changes.with(version, endpoints_of("x")),
                ..snapshot
            };
        }
        assert!(snapshot.delta_since(1).is_none(), "forgotten");
        assert!(snapshot.delta_since(snapshot.version - 3).is_some());
    }
}
