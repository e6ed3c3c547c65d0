//! When to push and what: config changes are debounced into pushes, and each
//! connection gets the pushed config's resources for its own proxy: the outbound
//! ones translated once per scope (see [`ScopeKey`]) and shared, the inbound ones
//! per proxy. Comparing the result with what the proxy last got (per type in SotW,
//! per resource in Delta) decides what goes out, so a change reaches only the
//! proxies, types and (EDS, Delta) resources it affects.
//!
//! What changed since the proxy's last snapshot ([`ConfigSnapshot::delta_since`])
//! decides how much is translated (istiod's incremental EDS and scoped pushes):
//! nothing the proxy sees, and its snapshot is reused; only endpoints of services
//! served over EDS, and its scope's EDS resources for those services are
//! re-translated onto the last ones, once per scope; anything else, or a change of
//! its own workload, and its config is translated again. The new snapshot says
//! which types and resources changed ([`TypeChange`]), so that connections look
//! only at those.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesh_api::object::ObjectRef;
use tokio::sync::{OnceCell, watch};
use tokio::time::Instant;

use super::connection::stopped;
use super::snapshot::{
    Layer, ProxySnapshot, ResourceInterner, ResourceMap, ScopeResources, TypeChange, encode_type,
};
use super::xds_type::{PerType, XdsType};
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
    scopes: HashMap<CacheKey, Arc<OnceCell<Arc<ScopeOutput>>>>,
}

/// A scope's outbound resources for one config version.
#[derive(Debug)]
pub(crate) struct ScopeOutput {
    resources: ScopeResources,
    /// Set when made by re-translating some services' endpoints onto an earlier
    /// version's: that version's EDS layer, and the names re-translated.
    eds_patch: Option<(Arc<Layer>, BTreeSet<String>)>,
}

/// What a proxy's snapshot was made from, so that the next one can be made from it
/// when little changed. Only the real translator's snapshots have one.
#[derive(Debug)]
pub(crate) struct SnapshotBasis {
    scope: ScopeKey,
    /// The workload the proxy ran as.
    workload: Option<ObjectRef>,
    outbound: Arc<ScopeOutput>,
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
    fn cell(&self, config_version: u64, key: CacheKey) -> Arc<OnceCell<Arc<ScopeOutput>>> {
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

/// One proxy's resources for `config`, made from `previous` (its current snapshot)
/// where what changed since allows, else translated in full.
pub(crate) async fn proxy_snapshot(
    shared: &Arc<Shared>,
    config: &Arc<ConfigSnapshot>,
    node: &Arc<ProxyNode>,
    previous: Option<&Arc<ProxySnapshot>>,
) -> Result<Arc<ProxySnapshot>, String> {
    if let Some(previous) = previous
        && let Some(basis) = &previous.basis
        && let Some(delta) = config.delta_since(previous.config_version)
        && !delta.reaches_outbound(&node.namespace)
        && !translate::workload_touched(
            &config.model,
            node,
            basis.workload.as_ref(),
            &delta.workloads,
        )
    {
        return endpoints_snapshot(shared, config, node, previous, basis, delta.endpoints).await;
    }
    full_snapshot(shared, config, node).await
}

/// The proxy's snapshot when at most the endpoints of `services` changed for it:
/// its scope's EDS resources for those services re-translated onto the last ones
/// (once per scope), everything else kept.
async fn endpoints_snapshot(
    shared: &Arc<Shared>,
    config: &Arc<ConfigSnapshot>,
    node: &Arc<ProxyNode>,
    previous: &Arc<ProxySnapshot>,
    basis: &Arc<SnapshotBasis>,
    services: BTreeSet<String>,
) -> Result<Arc<ProxySnapshot>, String> {
    let outbound = if services.is_empty() {
        basis.outbound.clone()
    } else {
        let (c, n, base) = (config.clone(), node.clone(), basis.outbound.clone());
        shared
            .scopes
            .cell(config.version, CacheKey::Scope(basis.scope.clone()))
            .get_or_try_init(|| {
                blocking(
                    shared,
                    move |shared| match translate::translate_endpoints_of(&c.model, &n, &services) {
                        Some(endpoints) => patch_endpoints(&base, endpoints, &shared.interner),
                        None => translate_scope(shared, &c, &n),
                    },
                )
            })
            .await?
            .clone()
    };
    let own = PerType::from_fn(|ty| previous.resources(ty).own().clone());
    let change = PerType::from_fn(|ty| type_change(ty, &basis.outbound, &outbound));
    let next_basis = Arc::new(SnapshotBasis {
        scope: basis.scope.clone(),
        workload: basis.workload.clone(),
        outbound: outbound.clone(),
    });
    let mut snapshot = ProxySnapshot::layered(config.version, &outbound.resources, own)
        .with_change(previous.config_version, change);
    snapshot.basis = Some(next_basis);
    Ok(Arc::new(snapshot))
}

/// `base` with the EDS resources of `endpoints` in place of those of the same name.
fn patch_endpoints(
    base: &Arc<ScopeOutput>,
    endpoints: Vec<envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment>,
    interner: &ResourceInterner,
) -> Arc<ScopeOutput> {
    let resources = ProxyResources {
        endpoints,
        ..ProxyResources::default()
    };
    let base_eds = &base.resources[XdsType::Endpoint];
    // Interned: an unchanged resource is the very same allocation as before.
    let replacements: ResourceMap = encode_type(&resources, XdsType::Endpoint, interner)
        .into_iter()
        .filter(|(name, r)| {
            base_eds
                .map()
                .get(name)
                .is_none_or(|old| !Arc::ptr_eq(old, r))
        })
        .collect();
    if replacements.is_empty() {
        return base.clone();
    }
    let names = replacements.keys().cloned().collect();
    let mut patched = base.resources.clone();
    patched[XdsType::Endpoint] = Arc::new(base_eds.patched(replacements));
    Arc::new(ScopeOutput {
        resources: patched,
        eds_patch: Some((base_eds.clone(), names)),
    })
}

/// How one type's shared resources differ from `before` to `after`.
fn type_change(ty: XdsType, before: &ScopeOutput, after: &ScopeOutput) -> TypeChange {
    if Arc::ptr_eq(&before.resources[ty], &after.resources[ty]) {
        return TypeChange::Unchanged;
    }
    match &after.eds_patch {
        Some((base, names))
            if ty == XdsType::Endpoint && Arc::ptr_eq(base, &before.resources[ty]) =>
        {
            TypeChange::Resources(names.clone())
        }
        _ => TypeChange::Any,
    }
}

/// One proxy's resources for `config`, translated: its scope's outbound resources,
/// once per scope and push, plus its own inbound ones. Translation runs on the
/// blocking pool, a few at a time, so that a push does not take every thread.
async fn full_snapshot(
    shared: &Arc<Shared>,
    config: &Arc<ConfigSnapshot>,
    node: &Arc<ProxyNode>,
) -> Result<Arc<ProxySnapshot>, String> {
    let (c, n) = (config.clone(), node.clone());
    let (key, own, workload) = blocking(shared, move |shared| match &shared.translation {
        Translation::Scoped => {
            let inbound = translate::translate_inbound(&c.model, &n);
            let key = CacheKey::Scope(translate::scope_key(&c.model, &n));
            let workload = translate::proxy_workload(&c.model, &n);
            (key, encode(&inbound, &shared.interner), workload)
        }
        Translation::PerProxy(_) => (CacheKey::Proxy(n.id.clone()), PerType::default(), None),
    })
    .await?;
    let (c, n) = (config.clone(), node.clone());
    let outbound = shared
        .scopes
        .cell(config.version, key.clone())
        .get_or_try_init(|| blocking(shared, move |shared| translate_scope(shared, &c, &n)))
        .await?
        .clone();
    let mut snapshot = ProxySnapshot::layered(config.version, &outbound.resources, own);
    if let CacheKey::Scope(scope) = key {
        snapshot.basis = Some(Arc::new(SnapshotBasis {
            scope,
            workload,
            outbound,
        }));
    }
    Ok(Arc::new(snapshot))
}

/// The outbound resources of the proxy's scope, translated in full.
fn translate_scope(shared: &Shared, config: &ConfigSnapshot, node: &ProxyNode) -> Arc<ScopeOutput> {
    let outbound = match &shared.translation {
        Translation::Scoped => translate::translate_outbound(&config.model, node),
        Translation::PerProxy(translator) => translator(&config.model, node),
    };
    Arc::new(ScopeOutput {
        resources: encode(&outbound, &shared.interner).map(|m| Arc::new(Layer::new(m))),
        eds_patch: None,
    })
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
mod tests;
