//! When to push and what: config changes are debounced into pushes, and each
//! connection gets the pushed config's resources for its own proxy: the outbound
//! ones translated once per scope (see [`ScopeKey`]) and shared, the inbound ones
//! per proxy. Comparing the result with what the proxy last got (per type in SotW,
//! per resource in Delta) decides what goes out, so a change reaches only the
//! proxies, types and (EDS, Delta) resources it affects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OnceCell, watch};
use tokio::time::Instant;

use super::connection::stopped;
use super::snapshot::{
    Layer, ProxySnapshot, ResourceInterner, ResourceMap, ScopeResources, encode_type,
};
use super::xds_type::PerType;
use super::{Shared, Translation};
use crate::config::ConfigSnapshot;
use crate::xds::node::ProxyNode;
use crate::xds::resources::ProxyResources;
use crate::xds::translate::{self, ScopeKey};

/// However busy the config source, a change waits at most this many debounce
/// periods before it is pushed (Istio's PILOT_DEBOUNCE_MAX plays the same role).
const MAX_DEBOUNCE_PERIODS: u32 = 10;

/// Forwards config snapshots to `pushes` once the source has been quiet for
/// `debounce`. Returns when the source closes or `stop` becomes true.
pub(crate) async fn debounce(
    mut config: watch::Receiver<Arc<ConfigSnapshot>>,
    pushes: watch::Sender<Arc<ConfigSnapshot>>,
    debounce: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            changed = config.changed() => if changed.is_err() { return },
            () = stopped(&mut stop) => return,
        }
        let deadline = Instant::now() + debounce * MAX_DEBOUNCE_PERIODS;
        let mut merged = 1;
        let mut closed = false;
        while !debounce.is_zero() {
            let quiet = Instant::now() + debounce;
            tokio::select! {
                changed = config.changed() => match changed {
                    Ok(()) => merged += 1,
                    Err(_) => { closed = true; break }
                },
                _ = tokio::time::sleep_until(quiet.min(deadline)) => break,
            }
        }
        let latest = config.borrow_and_update().clone();
        // Every connection holds a receiver, and so does the server itself.
        let proxies = pushes.receiver_count().saturating_sub(1);
        tracing::info!(
            config_version = latest.version,
            changes = merged,
            proxies,
            "pushing config"
        );
        pushes.send_replace(latest);
        if closed {
            return;
        }
    }
}

/// The outbound resources of each scope for the latest config: translated and
/// encoded by the first proxy of the scope that needs them, shared by the others.
#[derive(Debug, Default)]
pub(crate) struct ScopeCache {
    state: Mutex<ScopeCacheState>,
}

#[derive(Debug, Default)]
struct ScopeCacheState {
    config_version: u64,
    scopes: HashMap<CacheKey, Arc<OnceCell<Arc<ScopeResources>>>>,
}

/// What a scope is keyed by: the real translator's [`ScopeKey`]; a stand-in
/// translator's output is taken as the proxy's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum CacheKey {
    Scope(ScopeKey),
    Proxy(String),
}

impl ScopeCache {
    /// The cell of `key` for `config_version`; a newer version drops the older
    /// version's scopes (the proxies hold what they still use).
    fn cell(&self, config_version: u64, key: CacheKey) -> Arc<OnceCell<Arc<ScopeResources>>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if config_version > state.config_version {
            state.scopes.clear();
            state.config_version = config_version;
        }
        if config_version < state.config_version {
            // A proxy still on an older push: computed for it alone.
            return Arc::default();
        }
        state.scopes.entry(key).or_default().clone()
    }
}

/// One proxy's resources for `config`: its scope's outbound resources, translated
/// once per scope and push, plus its own inbound ones. Translation runs on the
/// blocking pool, a few at a time, so that a push does not take every thread.
pub(crate) async fn proxy_snapshot(
    shared: &Arc<Shared>,
    config: &Arc<ConfigSnapshot>,
    node: &Arc<ProxyNode>,
) -> Result<Arc<ProxySnapshot>, String> {
    let (c, n) = (config.clone(), node.clone());
    let (key, own) = blocking(shared, move |shared| match &shared.translation {
        Translation::Scoped => {
            let inbound = translate::translate_inbound(&c.model, &n);
            let key = CacheKey::Scope(translate::scope_key(&c.model, &n));
            (key, encode(&inbound, &shared.interner))
        }
        Translation::PerProxy(_) => (CacheKey::Proxy(n.id.clone()), PerType::default()),
    })
    .await?;
    let (c, n) = (config.clone(), node.clone());
    let outbound = shared
        .scopes
        .cell(config.version, key)
        .get_or_try_init(|| {
            blocking(shared, move |shared| {
                let outbound = match &shared.translation {
                    Translation::Scoped => translate::translate_outbound(&c.model, &n),
                    Translation::PerProxy(translator) => translator(&c.model, &n),
                };
                Arc::new(encode(&outbound, &shared.interner).map(|m| Arc::new(Layer::new(m))))
            })
        })
        .await?
        .clone();
    Ok(Arc::new(ProxySnapshot::layered(
        config.version,
        &outbound,
        own,
    )))
}

fn encode(resources: &ProxyResources, interner: &ResourceInterner) -> PerType<ResourceMap> {
    PerType::from_fn(|ty| encode_type(resources, ty, interner))
}

/// Runs `f` on the blocking pool once a translation permit is free.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> T + Send + 'static,
) -> Result<T, String> {
    let _permit = shared
        .translations
        .acquire()
        .await
        .map_err(|_| "the control plane is shutting down".to_string())?;
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || f(&shared))
        .await
        .map_err(|e| format!("the translator failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(version: u64) -> Arc<ConfigSnapshot> {
        Arc::new(ConfigSnapshot {
            version,
            ..Default::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_of_changes_become_one_push_of_the_latest() {
        let (config_tx, config_rx) = watch::channel(snapshot(1));
        let (push_tx, mut push_rx) = watch::channel(snapshot(1));
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(debounce(
            config_rx,
            push_tx,
            Duration::from_millis(100),
            stop_rx,
        ));
        for v in 2..=5 {
            config_tx.send_replace(snapshot(v));
            tokio::time::sleep(Duration::from_millis(30)).await;
            assert_eq!(push_rx.borrow().version, 1, "pushed during the burst");
        }
        push_rx.changed().await.unwrap();
        assert_eq!(push_rx.borrow_and_update().version, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_trickle_of_changes_is_pushed_at_the_latest_after_the_max_delay() {
        let (config_tx, config_rx) = watch::channel(snapshot(1));
        let (push_tx, push_rx) = watch::channel(snapshot(1));
        let (_stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(debounce(
            config_rx,
            push_tx,
            Duration::from_millis(100),
            stop_rx,
        ));
        let start = Instant::now();
        let mut v = 1;
        while push_rx.borrow().version == 1 {
            v += 1;
            config_tx.send_replace(snapshot(v));
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(
                start.elapsed() < Duration::from_millis(1200),
                "never pushed"
            );
        }
    }
}
