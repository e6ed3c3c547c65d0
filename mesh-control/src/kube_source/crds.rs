//! Custom resources come and go with their CRDs: a watch of the
//! CustomResourceDefinitions starts a watch of each mesh kind whose CRD is
//! established (our groups and Istio's) and stops it, taking its objects, when the
//! CRD is removed. A CRD installed while the control plane runs is picked up.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};

use super::resources::{CustomKind, custom_kinds};
use super::status::StatusWriter;
use super::{Feed, convert, watch_origin};
use crate::config::Origin;

/// The watches of one custom kind (one per watched namespace), at one version.
struct Running {
    version: &'static str,
    tasks: Vec<(Origin, u64, tokio::task::JoinHandle<()>)>,
}

/// Watches the CRDs and keeps one watch per established mesh kind.
pub(super) async fn manage(
    client: Client,
    namespaces: Vec<Option<String>>,
    origin: Origin,
    feed: Feed,
) {
    let kinds = custom_kinds();
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut events = watcher::watcher(api, watcher::Config::default().any_semantic())
        .backoff(super::WatchBackoff::default())
        .boxed();
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut generation = 0u64;
    let mut listing: Option<BTreeMap<String, (CustomKind, &'static str)>> = None;
    let mut failing = false;
    while let Some(item) = events.next().await {
        let event = match item {
            Ok(event) => {
                failing = false;
                event
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "cannot watch CustomResourceDefinitions; retrying (mesh-control needs get/list/watch on them)");
                    failing = true;
                }
                continue;
            }
        };
        let mut manager = Manager {
            client: &client,
            namespaces: &namespaces,
            feed: &feed,
            running: &mut running,
            generation: &mut generation,
        };
        match event {
            Event::Init => {
                listing = Some(BTreeMap::new());
                if !feed.send(&origin, 0, Event::Init) {
                    return;
                }
            }
            Event::InitApply(crd) => {
                if let Some((kind, version)) = wanted(&crd, &kinds) {
                    listing
                        .get_or_insert_with(BTreeMap::new)
                        .insert(kind.resource_name(), (kind, version));
                }
            }
            Event::InitDone => {
                let wanted = listing.take().unwrap_or_default();
                let gone: Vec<String> = manager
                    .running
                    .keys()
                    .filter(|name| !wanted.contains_key(*name))
                    .cloned()
                    .collect();
                for name in gone {
                    manager.stop(&name);
                }
                for (kind, version) in wanted.into_values() {
                    manager.ensure(&kind, version);
                }
                // After the kinds' watches are registered: the first config waits for them.
                if !feed.send(&origin, 0, Event::InitDone) {
                    return;
                }
            }
            Event::Apply(crd) => match (CustomKind::of(&crd, &kinds), wanted(&crd, &kinds)) {
                (_, Some((kind, version))) => manager.ensure(&kind, version),
                (Some(kind), None) => manager.stop(&kind.resource_name()),
                (None, None) => {}
            },
            Event::Delete(crd) => {
                if let Some(kind) = CustomKind::of(&crd, &kinds) {
                    manager.stop(&kind.resource_name());
                }
            }
        }
    }
}

/// The kind a CRD defines and the version to watch, when it is one of ours and
/// established.
fn wanted(
    crd: &CustomResourceDefinition,
    kinds: &[CustomKind],
) -> Option<(CustomKind, &'static str)> {
    let kind = CustomKind::of(crd, kinds)?;
    let version = kind.version_to_watch(crd)?;
    Some((kind, version))
}

struct Manager<'a> {
    client: &'a Client,
    namespaces: &'a [Option<String>],
    feed: &'a Feed,
    running: &'a mut BTreeMap<String, Running>,
    generation: &'a mut u64,
}

impl Manager<'_> {
    /// Watches `kind` at `version`, restarting its watches if the version changed.
    fn ensure(&mut self, kind: &CustomKind, version: &'static str) {
        let name = kind.resource_name();
        if self
            .running
            .get(&name)
            .is_some_and(|r| r.version == version)
        {
            return;
        }
        self.stop(&name);
        tracing::info!(resource = %name, version, "watching");
        let resource = kind.api_resource(version);
        let mut tasks = Vec::new();
        for namespace in self.namespaces {
            *self.generation += 1;
            let api: Api<DynamicObject> = match namespace {
                Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
                None => Api::all_with(self.client.clone(), &resource),
            };
            let origin = watch_origin(&name, namespace.as_deref());
            let for_convert: ApiResource = resource.clone();
            let status = StatusWriter::new(self.client.clone(), resource.clone());
            let task = self
                .feed
                .spawn_watch(origin.clone(), *self.generation, api, move |o| {
                    let converted = convert::custom_resource(o.clone(), &for_convert)?;
                    status.reconcile(&o, &converted);
                    Some(converted)
                });
            tasks.push((origin, *self.generation, task));
        }
        self.running.insert(name, Running { version, tasks });
    }

    /// Stops the watches of a kind; their objects go with them.
    fn stop(&mut self, name: &str) {
        let Some(running) = self.running.remove(name) else {
            return;
        };
        tracing::info!(resource = %name, "CRD gone or not served: its objects are dropped");
        for (origin, generation, task) in running.tasks {
            task.abort();
            self.feed.stopped(origin, generation);
        }
    }
}
