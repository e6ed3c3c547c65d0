//! The trust bundle published to every namespace as ConfigMap `mesh-ca-root-cert`
//! (key `root-cert.pem`), which injected pods mount at `/var/run/secrets/istio`
//! (istiod's `istio-ca-root-cert`). Kept as it should be: created in new namespaces,
//! re-created when deleted, corrected when edited, updated when the bundle changes;
//! namespaces being deleted are left alone. Writes are get, then create or replace
//! with the `resourceVersion` read: a 409 means someone wrote in between, so read again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Api, Client};
use tokio::sync::watch;

use super::secret::MANAGED_BY;

/// The ConfigMap's name in each namespace.
pub const ROOT_CERT_CONFIGMAP: &str = "mesh-ca-root-cert";
/// Its one key: the trust bundle, PEM.
pub const ROOT_CERT_KEY: &str = "root-cert.pem";
/// A failed write is tried again after this long.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Reads and writes of one ConfigMap before a run of 409s is given up until the retry.
const ATTEMPTS: usize = 5;

/// Which namespaces get the ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceScope {
    All,
    /// The watched namespaces (`--watch-namespaces`).
    Only(BTreeSet<String>),
}

/// What one reconciliation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    Created,
    Updated,
    Unchanged,
    /// The namespace is gone (or going): nothing to do there.
    NamespaceGone,
}

/// The namespaces to publish in, from the watches' events. Pure.
#[derive(Debug, Clone)]
pub struct PublishState {
    scope: NamespaceScope,
    active: BTreeSet<String>,
    /// Namespaces whose ConfigMap must be checked (new, changed, deleted, failed).
    pending: BTreeSet<String>,
}

impl NamespaceScope {
    pub fn includes(&self, namespace: &str) -> bool {
        match self {
            NamespaceScope::All => true,
            NamespaceScope::Only(names) => names.contains(namespace),
        }
    }
}

impl PublishState {
    pub fn new(scope: NamespaceScope) -> PublishState {
        PublishState {
            scope,
            active: BTreeSet::new(),
            pending: BTreeSet::new(),
        }
    }

    /// A namespace was seen (listed, added or changed).
    pub fn namespace_applied(&mut self, namespace: &Namespace) {
        let Some(name) = namespace.metadata.name.as_deref() else {
            return;
        };
        if !self.scope.includes(name) || is_terminating(namespace) {
            self.namespace_deleted(name);
            return;
        }
        if self.active.insert(name.to_string()) {
            self.pending.insert(name.to_string());
        }
    }

    pub fn namespace_deleted(&mut self, name: &str) {
        self.active.remove(name);
        self.pending.remove(name);
    }

    /// Our ConfigMap was seen in `namespace` as `config_map` (None: deleted).
    pub fn config_map_changed(
        &mut self,
        namespace: &str,
        config_map: Option<&ConfigMap>,
        bundle: &str,
    ) {
        let current = config_map.is_some_and(|c| is_current(c, bundle));
        if self.active.contains(namespace) && !current {
            self.pending.insert(namespace.to_string());
        }
    }

    /// The bundle changed: every namespace must be updated.
    pub fn bundle_changed(&mut self) {
        self.pending.extend(self.active.iter().cloned());
    }

    /// The namespaces to reconcile now; those that fail are given back with
    /// [`PublishState::failed`].
    pub fn take_pending(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.pending)
    }

    pub fn failed(&mut self, namespace: String) {
        if self.active.contains(&namespace) {
            self.pending.insert(namespace);
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

/// The ConfigMap `namespace` should hold for `bundle`.
pub fn desired(namespace: &str, bundle: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(ROOT_CERT_CONFIGMAP.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_string(),
                MANAGED_BY.1.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([(
            ROOT_CERT_KEY.to_string(),
            bundle.to_string(),
        )])),
        ..ConfigMap::default()
    }
}

/// Whether `config_map` holds exactly `bundle`, with our label.
pub fn is_current(config_map: &ConfigMap, bundle: &str) -> bool {
    let labelled = config_map
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY.0))
        .is_some_and(|v| v == MANAGED_BY.1);
    let data_is_bundle = config_map.data.as_ref().is_some_and(|data| {
        data.len() == 1 && data.get(ROOT_CERT_KEY).is_some_and(|v| v == bundle)
    });
    labelled
        && data_is_bundle
        && config_map
            .binary_data
            .as_ref()
            .is_none_or(BTreeMap::is_empty)
}

/// Makes `namespace`'s ConfigMap hold `bundle`: created, or replaced with the
/// `resourceVersion` read, read again after a 409.
pub async fn reconcile(
    client: &Client,
    namespace: &str,
    bundle: &str,
) -> Result<Reconciled, kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let mut last_conflict = None;
    for _ in 0..ATTEMPTS {
        let outcome = match api.get_opt(ROOT_CERT_CONFIGMAP).await? {
            None => api
                .create(&PostParams::default(), &desired(namespace, bundle))
                .await
                .map(|_| Reconciled::Created),
            Some(existing) if is_current(&existing, bundle) => return Ok(Reconciled::Unchanged),
            Some(existing) => {
                let mut wanted = desired(namespace, bundle);
                // Keep what others added (annotations, labels); ours wins on conflict.
                let mut metadata = existing.metadata;
                let mut labels = metadata.labels.take().unwrap_or_default();
                labels.extend(wanted.metadata.labels.take().unwrap_or_default());
                metadata.labels = Some(labels);
                wanted.metadata = metadata;
                api.replace(ROOT_CERT_CONFIGMAP, &PostParams::default(), &wanted)
                    .await
                    .map(|_| Reconciled::Updated)
            }
        };
        match outcome {
            Ok(done) => return Ok(done),
            // Someone wrote it between our read and our write: read again.
            Err(kube::Error::Api(status)) if status.is_conflict() || status.is_already_exists() => {
                last_conflict = Some(kube::Error::Api(status));
            }
            // Creating in a namespace that is gone or terminating.
            Err(kube::Error::Api(status))
                if status.is_not_found()
                    || (status.is_forbidden() && status.message.contains("being terminated")) =>
            {
                return Ok(Reconciled::NamespaceGone);
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_conflict.unwrap_or_else(|| {
        kube::Error::Api(
            kube::core::Status::failure("conflicts", "Conflict")
                .with_code(409)
                .boxed(),
        )
    }))
}

/// Publishes `roots` (the trust bundle's PEM) to the namespaces of `scope` until the
/// API server's watches end: a task to spawn. A fixed bundle is
/// `watch::channel(pem).1`.
pub async fn publish_roots(
    client: Client,
    mut roots: watch::Receiver<String>,
    scope: NamespaceScope,
) {
    let namespaces = watcher(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff();
    let config_maps = watcher(
        Api::<ConfigMap>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={ROOT_CERT_CONFIGMAP}")),
    )
    .default_backoff();
    let (mut namespaces, mut config_maps) =
        (std::pin::pin!(namespaces), std::pin::pin!(config_maps));
    let mut state = PublishState::new(scope);
    let mut bundle = roots.borrow_and_update().clone();
    let mut roots_open = true;
    let mut retry = tokio::time::interval(RETRY_INTERVAL);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = namespaces.next() => match event {
                Some(Ok(watcher::Event::Apply(ns) | watcher::Event::InitApply(ns))) => state.namespace_applied(&ns),
                Some(Ok(watcher::Event::Delete(ns))) => {
                    state.namespace_deleted(ns.metadata.name.as_deref().unwrap_or_default());
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Some(Err(error)) => tracing::warn!(%error, "cannot watch namespaces to publish the root certificate"),
                None => return,
            },
            event = config_maps.next() => match event {
                Some(Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm))) => {
                    let namespace = cm.metadata.namespace.clone().unwrap_or_default();
                    state.config_map_changed(&namespace, Some(&cm), &bundle);
                }
                Some(Ok(watcher::Event::Delete(cm))) => {
                    let namespace = cm.metadata.namespace.clone().unwrap_or_default();
                    state.config_map_changed(&namespace, None, &bundle);
                }
                Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                Some(Err(error)) => tracing::warn!(%error, "cannot watch the {ROOT_CERT_CONFIGMAP} ConfigMaps"),
                None => return,
            },
            changed = roots.changed(), if roots_open => match changed {
                Ok(()) => {
                    bundle = roots.borrow_and_update().clone();
                    state.bundle_changed();
                }
                // The bundle is fixed from now on.
                Err(_) => roots_open = false,
            },
            _ = retry.tick(), if state.has_pending() => {}
        }
        for namespace in state.take_pending() {
            match reconcile(&client, &namespace, &bundle).await {
                Ok(Reconciled::NamespaceGone) => state.namespace_deleted(&namespace),
                Ok(done) => tracing::debug!(%namespace, ?done, "root certificate ConfigMap"),
                Err(error) => {
                    tracing::warn!(
                        %namespace,
                        %error,
                        "cannot write ConfigMap {ROOT_CERT_CONFIGMAP}; pods injected there cannot \
                         verify the control plane until it exists (retrying; mesh-control needs \
                         create and update on configmaps)"
                    );
                    state.failed(namespace);
                }
            }
        }
    }
}

/// A namespace being deleted refuses new objects; leave it.
fn is_terminating(namespace: &Namespace) -> bool {
    namespace.metadata.deletion_timestamp.is_some()
        || namespace
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Terminating")
}

#[cfg(test)]
mod tests;
