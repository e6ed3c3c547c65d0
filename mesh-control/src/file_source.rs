//! Universal mode's config source: a directory of YAML manifests, watched for changes.
//!
//! A thread owns the [`ConfigStore`]; file-system events (inotify, or polling where
//! inotify is unavailable) are debounced, the directory is rescanned, changed files are
//! re-parsed, and a new [`ConfigSnapshot`] is published on a watch channel whenever
//! the objects in force change. Bad documents are logged and never stop the source.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use mesh_api::manifest::{manifest_files, parse_file};
use mesh_api::model::{MeshModel, MeshSettings};
use notify::Watcher;
use tokio::sync::watch;

use crate::config_store::ConfigStore;

/// The config in force, as published to the rest of the control plane.
#[derive(Debug, Clone, Default)]
pub struct ConfigSnapshot {
    /// Increases by one with every change of the objects in force.
    pub version: u64,
    pub model: Arc<MeshModel>,
    /// Every current problem, one line each (`file:line (document N): Kind ns/name: field: …`).
    pub errors: Vec<String>,
}

/// Watches a directory of manifests.
#[derive(Debug, Clone)]
pub struct FileSource {
    pub dir: PathBuf,
    pub settings: MeshSettings,
    /// Quiet time after the last file-system event before rescanning.
    pub debounce: Duration,
}

/// File contents seen at the last scan, by path, as hashes.
type Seen = BTreeMap<PathBuf, u64>;

/// How often the directory is polled where inotify cannot be used.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

impl FileSource {
    /// Loads the directory, then keeps watching it on a thread of its own until every
    /// receiver of the returned channel is dropped.
    pub fn start(self) -> anyhow::Result<watch::Receiver<Arc<ConfigSnapshot>>> {
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
        let mut state = SourceState {
            store: ConfigStore::default(),
            seen: Seen::new(),
            version: 0,
        };
        state.rescan(&self);
        let initial = state.snapshot(&self);
        let (tx, rx) = watch::channel(Arc::new(initial));
        std::thread::Builder::new()
            .name("config-files".into())
            .spawn(move || {
                // The watcher lives as long as the loop: dropping it stops the events.
                let _watcher = watcher;
                self.run(state, events_rx, tx);
            })?;
        Ok(rx)
    }

    fn run(
        &self,
        mut state: SourceState,
        events: mpsc::Receiver<()>,
        tx: watch::Sender<Arc<ConfigSnapshot>>,
    ) {
        while events.recv().is_ok() {
            // Editors and `kubectl cp` write in bursts: wait for quiet before reading.
            while events.recv_timeout(self.debounce).is_ok() {}
            if state.rescan(self) {
                let snapshot = state.snapshot(self);
                if tx.send(Arc::new(snapshot)).is_err() {
                    return;
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    }
}

struct SourceState {
    store: ConfigStore,
    seen: Seen,
    version: u64,
}

impl SourceState {
    /// Re-reads the directory; returns whether any file changed.
    fn rescan(&mut self, source: &FileSource) -> bool {
        let mut now = Seen::new();
        let mut changed = false;
        let files = match manifest_files(&source.dir) {
            Ok(files) => files,
            Err(e) => {
                // The directory itself is unreadable (removed, remounted): keep everything.
                tracing::warn!(dir = %source.dir.display(), error = %e, "cannot list config directory; keeping the last good config");
                return false;
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
                changed = true;
                let label = display_path(&source.dir, &path);
                let update = self.store.update_file(&label, parse_file(&label, &text));
                for error in &update.errors {
                    tracing::warn!("invalid config: {error}");
                }
                for kept in &update.kept {
                    tracing::warn!("{kept}: keeping the last good version");
                }
            }
            now.insert(path, hash);
        }
        for gone in self.seen.keys().filter(|p| !now.contains_key(*p)) {
            changed = true;
            self.store.remove_file(&display_path(&source.dir, gone));
            tracing::info!(file = %gone.display(), "manifest removed");
        }
        self.seen = now;
        changed
    }

    fn snapshot(&mut self, source: &FileSource) -> ConfigSnapshot {
        self.version += 1;
        let (objects, duplicates) = self.store.objects();
        for d in &duplicates {
            tracing::warn!("{d}");
        }
        let model = MeshModel::build(objects, source.settings.clone());
        let endpoints: usize = model.services.values().map(|s| s.endpoints.len()).sum();
        let mut errors: Vec<String> = self.store.errors().map(ToString::to_string).collect();
        errors.extend(duplicates.iter().map(ToString::to_string));
        tracing::info!(
            version = self.version,
            objects = model.objects.len(),
            services = model.services.len(),
            endpoints,
            workloads = model.workloads.len(),
            errors = errors.len(),
            "config loaded from {}",
            source.dir.display()
        );
        ConfigSnapshot {
            version: self.version,
            model: Arc::new(model),
            errors,
        }
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
