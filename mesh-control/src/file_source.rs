//! Universal mode's config source: a directory of YAML manifests, watched for changes.
//!
//! A thread watches the directory; file-system events (inotify, or polling where
//! inotify is unavailable) are debounced, the directory is rescanned, and each
//! changed file is re-parsed into a reset of its [`Origin`] (keeping the last good
//! version of its bad documents, see [`last_good`]), handed to the [`ConfigHub`] as
//! one batch. Bad documents are logged and never stop the source.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use mesh_api::manifest::{manifest_files, parse_file};
use notify::Watcher;

use crate::config::{ConfigEvent, ConfigHub, Origin, StoredObject};

mod last_good;

pub use last_good::{FileUpdate, file_reset};

/// Watches a directory of manifests.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub dir: PathBuf,
    /// Quiet time after the last file-system event before rescanning.
    pub debounce: Duration,
}

/// File contents seen at the last scan, by path, as hashes.
type Seen = BTreeMap<PathBuf, u64>;

/// How often the directory is polled where inotify cannot be used.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

impl FileSource {
    /// Loads the directory into `hub`, then keeps watching it on a thread of its own
    /// until nobody reads the hub's snapshots any more.
    pub fn start(self, hub: Arc<ConfigHub>) -> anyhow::Result<()> {
        let meta = std::fs::metadata(&self.dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot read config directory {}: {e}; pass an existing directory with --config-dir",
                self.dir.display()
            )
        })?;
        anyhow::ensure!(
            meta.is_dir(),
            "{} is not a directory; --config-dir takes a directory of YAML manifests",
            self.dir.display()
        );
        let (events_tx, events_rx) = mpsc::channel();
        let watcher = watch_directory(&self.dir, events_tx)?;
        let mut state = SourceState { seen: Seen::new() };
        // The first batch is applied even when empty: it makes the config ready.
        hub.apply(state.rescan(&self, &hub));
        tracing::info!(dir = %self.dir.display(), files = state.seen.len(), "config directory loaded");
        std::thread::Builder::new()
            .name("config-files".into())
            .spawn(move || {
                // The watcher lives as long as the loop: dropping it stops the events.
                let _watcher = watcher;
                self.run(state, events_rx, &hub);
            })?;
        Ok(())
    }

    fn run(&self, mut state: SourceState, events: mpsc::Receiver<()>, hub: &ConfigHub) {
        while events.recv().is_ok() {
            // Editors and `kubectl cp` write in bursts: wait for quiet before reading.
            while events.recv_timeout(self.debounce).is_ok() {}
            let batch = state.rescan(self, hub);
            if !batch.is_empty() {
                hub.apply(batch);
            }
            if hub.is_closed() {
                return;
            }
        }
    }
}

struct SourceState {
    seen: Seen,
}

impl SourceState {
    /// Re-reads the directory; returns an event per file that changed.
    fn rescan(&mut self, source: &FileSource, hub: &ConfigHub) -> Vec<ConfigEvent> {
        let mut now = Seen::new();
        let mut events = Vec::new();
        let files = match manifest_files(&source.dir) {
            Ok(files) => files,
            Err(e) => {
                // The directory itself is unreadable (removed, remounted): keep everything.
                tracing::warn!(dir = %source.dir.display(), error = %e, "cannot list config directory; keeping the last good config");
                return events;
            }
        };
        for path in files {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    // Keep what the file gave before: a half-written or unreadable
                    // file is not a deletion.
                    tracing::warn!(file = %path.display(), error = %e, "cannot read manifest; keeping its last good objects");
                    if let Some(hash) = self.seen.get(&path) {
                        now.insert(path, *hash);
                    }
                    continue;
                }
            };
            let hash = content_hash(&text);
            if self.seen.get(&path) != Some(&hash) {
                let label = display_path(&source.dir, &path);
                let origin = Origin::File(label.clone());
                let previous: Vec<StoredObject> =
                    hub.with_store(|store| store.objects_of(&origin).cloned().collect());
                let (event, update) = file_reset(origin, previous, parse_file(&label, &text));
                for error in &update.errors {
                    tracing::warn!("invalid config: {error}");
                }
                for kept in &update.kept {
                    tracing::warn!("{kept}: keeping the last good version");
                }
                events.push(event);
            }
            now.insert(path, hash);
        }
        for gone in self.seen.keys().filter(|p| !now.contains_key(*p)) {
            tracing::info!(file = %gone.display(), "manifest removed");
            events.push(ConfigEvent::Reset {
                origin: Origin::File(display_path(&source.dir, gone)),
                objects: Vec::new(),
                errors: Vec::new(),
            });
        }
        self.seen = now;
        events
    }
}

/// Starts an inotify watcher on `dir`, falling back to polling where inotify cannot
/// be used (exhausted watches, some network file systems).
fn watch_directory(
    dir: &Path,
    events: mpsc::Sender<()>,
) -> anyhow::Result<Box<dyn Watcher + Send>> {
    let notify_tx = events.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !e.kind.is_access()) {
            let _ = notify_tx.send(());
        }
    };
    let inotify = notify::RecommendedWatcher::new(handler.clone(), notify::Config::default())
        .and_then(|mut w| w.watch(dir, notify::RecursiveMode::Recursive).map(|()| w));
    match inotify {
        Ok(w) => Ok(Box::new(w)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch {} with inotify; polling every {:?}", dir.display(), POLL_INTERVAL);
            let config = notify::Config::default().with_poll_interval(POLL_INTERVAL);
            let mut poll = notify::PollWatcher::new(handler, config)?;
            poll.watch(dir, notify::RecursiveMode::Recursive)?;
            Ok(Box::new(poll))
        }
    }
}

/// The path users see in messages: relative to the config directory.
fn display_path(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

fn content_hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests;
