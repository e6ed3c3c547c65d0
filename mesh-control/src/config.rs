//! The config in force, whatever its sources: the control plane's source seam.
//!
//! Sources (the directory watcher of universal mode, the Kubernetes API watches)
//! turn what they see into [`ConfigEvent`]s (apply, delete, reset) about the objects
//! of their [`Origin`]s and hand them to the [`ConfigHub`]. The hub keeps every
//! object by origin and reference ([`ConfigStore`]), updates the mesh model from the
//! objects that changed in force, and publishes a [`ConfigSnapshot`] that says what
//! changed, so that pushes re-translate only that.

mod event;
mod hub;
mod snapshot;
mod state;
mod store;

pub use event::{ConfigEvent, KubeWatch, Origin, StoredObject};
pub use hub::ConfigHub;
pub use snapshot::{ChangeHistory, ConfigSnapshot};
pub use state::ConfigState;
pub use store::{ConfigStore, DuplicateObject};
