//! When to push and what: config changes are debounced into pushes, and each
//! connection translates the pushed config for its own proxy. Comparing the result
//! with what the proxy last got (per type in SotW, per resource in Delta) decides
//! what goes out, so a change reaches only the proxies and types it affects.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Shared;
use super::connection::stopped;
use super::snapshot::ProxySnapshot;
use crate::file_source::ConfigSnapshot;
use crate::xds::node::ProxyNode;

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
        tracing::debug!(
            config_version = latest.version,
            merged,
            "pushing config to connected proxies"
        );
        pushes.send_replace(latest);
        if closed {
            return;
        }
    }
}

/// Translates `config` for one proxy on the blocking pool, a few proxies at a time
/// so that a push to a thousand proxies does not take every thread.
pub(crate) async fn proxy_snapshot(
    shared: &Arc<Shared>,
    config: &Arc<ConfigSnapshot>,
    node: &Arc<ProxyNode>,
) -> Result<Arc<ProxySnapshot>, String> {
    let _permit = shared
        .translations
        .acquire()
        .await
        .map_err(|_| "the control plane is shutting down".to_string())?;
    let (shared, config, node) = (shared.clone(), config.clone(), node.clone());
    tokio::task::spawn_blocking(move || {
        let resources = (shared.translator)(&config.model, &node);
        Arc::new(ProxySnapshot::encode(
            config.version,
            &resources,
            &shared.interner,
        ))
    })
    .await
    .map_err(|e| format!("the translator failed for config version: {e}"))
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
