//! Kubernetes mode's config source: watches of the Kubernetes API (Services,
//! EndpointSlices, Pods, Namespaces and the mesh's custom resources) into the config
//! store, as the directory watcher does for files (one producer more, not a fork).
//!
//! Each watch (a resource, in all namespaces or in one) is an [`Origin`]. Its lists
//! are handed over whole ([`buffer`]), so a relist after `410 Gone`, a dropped
//! connection or a restarted API server replaces exactly that watch's objects,
//! deletes missed meanwhile included. The first config is published only once every
//! watch has listed: a proxy never gets a half-built mesh. Custom resources are
//! watched while their CRD is established, in our groups and in Istio's
//! ([`crds`]): a CRD installed later is picked up, a CRD removed takes its objects.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use crate::config::{ConfigEvent, ConfigHub, KubeWatch, Origin};

mod backoff;
mod buffer;
pub mod convert;
mod crds;
pub mod resources;
mod status;

pub use backoff::WatchBackoff;
use buffer::WatchBuffer;
use convert::Converted;

/// Which namespaces are watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchScope {
    All,
    /// Only these (`--watch-namespaces`); cluster-scoped resources are still watched.
    Namespaces(Vec<String>),
}

/// Watches the Kubernetes API.
#[derive(Clone)]
pub struct KubeSource {
    pub client: Client,
    pub scope: WatchScope,
    /// Quiet time after a change before the batch of changes is applied.
    pub debounce: Duration,
}

impl std::fmt::Debug for KubeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeSource")
            .field("scope", &self.scope)
            .field("debounce", &self.debounce)
            .finish_non_exhaustive()
    }
}

/// What watches tell the thread that feeds the hub.
#[derive(Debug)]
enum SourceMessage {
    /// A watch starts (generation `u64`); the first config waits for its first list.
    Started(Origin, u64),
    /// An event of a watch of that generation.
    Event(Origin, u64, Box<Event<Converted>>),
    /// The watch ended for good (its CRD is gone): its objects go.
    Stopped(Origin, u64),
}

/// The sending side, shared by every watch task.
#[derive(Debug, Clone)]
struct Feed {
    tx: mpsc::Sender<SourceMessage>,
}

/// How often the source says which watches the first config still waits for.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
/// A batch of changes waits at most this many debounces.
const MAX_DEBOUNCES: u32 = 10;

impl KubeSource {
    /// Starts every watch, and returns once each has listed and the first config is
    /// in the hub. Logs which watches it still waits for (RBAC, an unreachable API
    /// server) every few seconds.
    pub async fn start(self, hub: Arc<ConfigHub>) -> anyhow::Result<()> {
        let (tx, rx) = mpsc::channel();
        let feed = Feed { tx };
        let (synced_tx, synced_rx) = oneshot::channel();
        let debounce = self.debounce;
        std::thread::Builder::new()
            .name("config-kube".into())
            .spawn(move || HubFeeder::new(hub, debounce).run(rx, synced_tx))?;

        for namespace in self.namespaces() {
            let ns = namespace.as_deref();
            feed.spawn_watch(
                watch_origin("services", ns),
                0,
                self.api::<Service>(ns),
                convert::service,
            );
            feed.spawn_watch(
                watch_origin("endpointslices.discovery.k8s.io", ns),
                0,
                self.api::<EndpointSlice>(ns),
                convert::endpoint_slice,
            );
            feed.spawn_watch(
                watch_origin("pods", ns),
                0,
                self.api::<Pod>(ns),
                convert::pod,
            );
        }
        // Namespaces are cluster-scoped: one watch, keeping the watched ones.
        let scope = self.scope.clone();
        feed.spawn_watch(
            watch_origin("namespaces", None),
            0,
            Api::<Namespace>::all(self.client.clone()),
            move |namespace: Namespace| match &scope {
                WatchScope::Namespaces(list)
                    if !list
                        .iter()
                        .any(|n| Some(n.as_str()) == namespace.metadata.name.as_deref()) =>
                {
                    None
                }
                _ => convert::namespace(namespace),
            },
        );
        let crd_origin = watch_origin("customresourcedefinitions.apiextensions.k8s.io", None);
        // Registered before any watch can list: the first config waits for the CRDs.
        feed.started(crd_origin.clone(), 0);
        tokio::spawn(crds::manage(
            self.client.clone(),
            self.namespaces(),
            crd_origin,
            feed.clone(),
        ));
        synced_rx
            .await
            .map_err(|_| anyhow::anyhow!("the Kubernetes source stopped before its first list"))?;
        Ok(())
    }

    fn api<K>(&self, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        }
    }

    /// One entry per watch of a namespaced resource: `None` is all namespaces.
    fn namespaces(&self) -> Vec<Option<String>> {
        match &self.scope {
            WatchScope::All => vec![None],
            WatchScope::Namespaces(list) => list.iter().cloned().map(Some).collect(),
        }
    }
}

fn watch_origin(resource: &str, namespace: Option<&str>) -> Origin {
    Origin::Kubernetes(KubeWatch {
        resource: resource.to_string(),
        namespace: namespace.map(str::to_string),
    })
}

impl Feed {
    /// Registers a watch before its task runs, so that the first config waits for it.
    fn started(&self, origin: Origin, generation: u64) {
        let _ = self.tx.send(SourceMessage::Started(origin, generation));
    }

    fn send(&self, origin: &Origin, generation: u64, event: Event<Converted>) -> bool {
        self.tx
            .send(SourceMessage::Event(
                origin.clone(),
                generation,
                Box::new(event),
            ))
            .is_ok()
    }

    fn stopped(&self, origin: Origin, generation: u64) {
        let _ = self.tx.send(SourceMessage::Stopped(origin, generation));
    }
    /// Runs one watch until the hub's feeder is gone (or the task is aborted),
    /// retrying with kube's default backoff; errors are logged once per streak.
    fn spawn_watch<K>(
        &self,
        origin: Origin,
        generation: u64,
        api: Api<K>,
        convert: impl Fn(K) -> Option<Converted> + Send + 'static,
    ) -> tokio::task::JoinHandle<()>
    where
        K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    {
        let feed = self.clone();
        feed.started(origin.clone(), generation);
        let config = watcher::Config::default().any_semantic();
        tokio::spawn(async move {
            let mut events = watcher::watcher(api, config)
                .backoff(WatchBackoff::default())
                .boxed();
            let mut failing = false;
            while let Some(item) = events.next().await {
                let event = match item {
                    Ok(event) => {
                        if failing {
                            tracing::info!(%origin, "watch recovered");
                            failing = false;
                        }
                        event
                    }
                    Err(error) => {
                        if !failing {
                            tracing::warn!(%origin, %error, "watch failed; retrying with backoff (check the API server and mesh-control's RBAC)");
                            failing = true;
                        } else {
                            tracing::debug!(%origin, %error, "watch still failing");
                        }
                        continue;
                    }
                };
                let Some(event) = map_event(event, &convert) else {
                    continue;
                };
                if !feed.send(&origin, generation, event) {
                    return;
                }
            }
        })
    }
}

/// The event with its object converted; `None` for an object the mesh does not read.
fn map_event<K>(
    event: Event<K>,
    convert: impl Fn(K) -> Option<Converted>,
) -> Option<Event<Converted>> {
    Some(match event {
        Event::Init => Event::Init,
        Event::InitDone => Event::InitDone,
        Event::InitApply(o) => Event::InitApply(convert(o)?),
        Event::Apply(o) => Event::Apply(convert(o)?),
        Event::Delete(o) => Event::Delete(convert(o)?),
    })
}

/// The thread that turns watch events into batches for the hub.
struct HubFeeder {
    hub: Arc<ConfigHub>,
    debounce: Duration,
    watches: BTreeMap<Origin, (u64, WatchBuffer)>,
    batch: Vec<ConfigEvent>,
    /// When the oldest change of the batch arrived.
    batch_started: Option<Instant>,
}

impl HubFeeder {
    fn new(hub: Arc<ConfigHub>, debounce: Duration) -> HubFeeder {
        HubFeeder {
            hub,
            debounce,
            watches: BTreeMap::new(),
            batch: Vec::new(),
            batch_started: None,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<SourceMessage>, synced: oneshot::Sender<()>) {
        let mut synced = Some(synced);
        let mut last_progress = Instant::now();
        loop {
            let wait = if synced.is_some() {
                PROGRESS_INTERVAL
            } else if self.batch.is_empty() {
                Duration::from_secs(60)
            } else {
                self.debounce
            };
            match rx.recv_timeout(wait) {
                Ok(message) => {
                    self.handle(message);
                    // A steady stream of changes still goes out now and then.
                    let overdue = self
                        .batch_started
                        .is_some_and(|s| s.elapsed() >= self.debounce * MAX_DEBOUNCES);
                    if synced.is_none() && overdue {
                        self.flush();
                    }
                }
                // Quiet for a debounce: the batch goes.
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if synced.is_none() && !self.batch.is_empty() {
                        self.flush();
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if let Some(first) = synced.take() {
                let waiting = self.waiting();
                if waiting.is_empty() && !self.watches.is_empty() {
                    self.flush();
                    tracing::info!(
                        watches = self.watches.len(),
                        "Kubernetes API listed; config ready"
                    );
                    let _ = first.send(());
                } else {
                    if last_progress.elapsed() >= PROGRESS_INTERVAL {
                        tracing::info!(waiting = ?waiting, "waiting for the first list of these watches");
                        last_progress = Instant::now();
                    }
                    synced = Some(first);
                }
            }
            if self.hub.is_closed() {
                return;
            }
        }
    }

    fn handle(&mut self, message: SourceMessage) {
        match message {
            SourceMessage::Started(origin, generation) => {
                self.watches
                    .insert(origin.clone(), (generation, WatchBuffer::new(origin)));
            }
            SourceMessage::Event(origin, generation, event) => {
                let hub = &self.hub;
                let Some((current, buffer)) = self.watches.get_mut(&origin) else {
                    return;
                };
                // A late event of a watch stopped since (its CRD was removed).
                if *current != generation {
                    return;
                }
                let events = buffer.on_event(*event, |r| {
                    hub.with_store(|store| {
                        store
                            .objects_of(&origin)
                            .find(|o| &o.object_ref() == r)
                            .cloned()
                    })
                });
                self.push(events);
            }
            SourceMessage::Stopped(origin, generation) => {
                if self
                    .watches
                    .get(&origin)
                    .is_some_and(|(g, _)| *g == generation)
                {
                    self.watches.remove(&origin);
                    self.push(vec![ConfigEvent::Reset {
                        origin,
                        objects: Vec::new(),
                        errors: Vec::new(),
                    }]);
                }
            }
        }
    }

    fn push(&mut self, events: Vec<ConfigEvent>) {
        if events.is_empty() {
            return;
        }
        self.batch_started.get_or_insert_with(Instant::now);
        self.batch.extend(events);
    }

    /// Watches that have not listed yet.
    fn waiting(&self) -> BTreeSet<String> {
        self.watches
            .iter()
            .filter(|(_, (_, buffer))| !buffer.listed())
            .map(|(origin, _)| origin.to_string())
            .collect()
    }

    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        self.batch_started = None;
        self.hub.apply(batch);
    }
}
