//! Where sources hand in their events and the control plane reads the config in
//! force: one [`ConfigState`] behind a lock, its snapshots on a watch channel.

use std::sync::{Arc, Mutex};

use mesh_api::model::MeshSettings;
use tokio::sync::watch;

use super::event::ConfigEvent;
use super::snapshot::ConfigSnapshot;
use super::state::ConfigState;
use super::store::ConfigStore;

/// The config in force, fed by every source. Sources call [`ConfigHub::apply`]
/// from their own thread: a model update of a large mesh is CPU work that must not
/// hold an async runtime's worker.
#[derive(Debug)]
pub struct ConfigHub {
    state: Mutex<ConfigState>,
    published: watch::Sender<Arc<ConfigSnapshot>>,
}

impl ConfigHub {
    pub fn new(settings: MeshSettings) -> Arc<ConfigHub> {
        let state = ConfigState::new(settings);
        let (published, _) = watch::channel(Arc::new(state.snapshot().clone()));
        Arc::new(ConfigHub {
            state: Mutex::new(state),
            published,
        })
    }

    /// The snapshots, from the current one on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ConfigSnapshot>> {
        self.published.subscribe()
    }

    /// Applies a batch of events and publishes the new snapshot, if any.
    pub fn apply(&self, events: Vec<ConfigEvent>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(snapshot) = state.apply(events) {
            self.published.send_replace(Arc::new(snapshot.clone()));
        }
    }

    /// Reads the store (a source looking up what its origins held last).
    pub fn with_store<T>(&self, read: impl FnOnce(&ConfigStore) -> T) -> T {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        read(state.store())
    }

    /// Whether nobody reads the snapshots any more (sources stop then).
    pub fn is_closed(&self) -> bool {
        self.published.is_closed()
    }
}
