//! Waiting until a config change has reached every proxy, instead of sleeping: the
//! control plane's `/debug/config` says which config version it loaded, `/debug/syncz`
//! what each proxy was sent and has ACKed.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Cluster, ClusterError};

/// A config version that every connected proxy has ACKed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfigSync {
    pub version: u64,
    pub proxies: usize,
}

/// Where the proxies are with respect to one config version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SyncState {
    /// Every proxy has ACKed every type it was sent of this version or a later one.
    Synced { proxies: usize },
    /// Some proxy has not caught up yet: which, and how.
    Behind(String),
    /// Some proxy rejected its config: which type and Envoy's error.
    Nacked(String),
}

/// The config version the control plane has loaded.
pub async fn config_version<C: Cluster>(cluster: &C) -> Result<u64, ClusterError> {
    let body = cluster.control_plane_debug("/debug/config").await?;
    serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("config_version")?.as_u64())
        .ok_or_else(|| {
            ClusterError::ControlPlane(format!(
                "/debug/config has no config_version; is this mesh-control? got: {}",
                body.chars().take(200).collect::<String>()
            ))
        })
}

/// Waits until the control plane has loaded a config newer than `newer_than` and every
/// connected proxy has ACKed it. A NACK ends the wait with the proxy's error.
pub async fn wait_synced<C: Cluster>(
    cluster: &C,
    newer_than: u64,
    timeout: Duration,
) -> Result<ConfigSync, ClusterError> {
    let deadline = Instant::now() + timeout;
    loop {
        let loaded = config_version(cluster).await?;
        let last;
        if loaded > newer_than {
            let syncz = cluster.control_plane_debug("/debug/syncz").await?;
            let syncz: Value = serde_json::from_str(&syncz).map_err(|e| {
                ClusterError::ControlPlane(format!("/debug/syncz is not JSON ({e})"))
            })?;
            match sync_state(&syncz, loaded) {
                SyncState::Synced { proxies } => {
                    return Ok(ConfigSync {
                        version: loaded,
                        proxies,
                    });
                }
                SyncState::Nacked(why) => return Err(ClusterError::ControlPlane(why)),
                SyncState::Behind(why) => last = why,
            }
        } else {
            last = format!("the control plane still has config version {loaded}");
        }
        if Instant::now() > deadline {
            return Err(ClusterError::ControlPlane(format!(
                "config not pushed to every proxy after {timeout:?}: {last}; \
                 see `meshctl proxy-status` and the control plane's log"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `/debug/syncz` against config `version`.
fn sync_state(syncz: &Value, version: u64) -> SyncState {
    let proxies = syncz.as_array().map(Vec::as_slice).unwrap_or_default();
    for proxy in proxies {
        let name = proxy.get("name").and_then(Value::as_str).unwrap_or("?");
        let at = proxy.get("config_version").and_then(Value::as_u64);
        if at.is_none_or(|v| v < version) {
            return SyncState::Behind(format!(
                "{name} is at config version {}, not {version}",
                at.unwrap_or(0)
            ));
        }
        let types = proxy.get("types").and_then(Value::as_object);
        for (ty, state) in types.into_iter().flatten() {
            match state.get("state").and_then(Value::as_str) {
                Some("NACKED") => {
                    let error = state.get("error").and_then(Value::as_str).unwrap_or("");
                    return SyncState::Nacked(format!("{name} rejected its {ty}: {error}"));
                }
                Some("STALE") => {
                    return SyncState::Behind(format!("{name} has not ACKed its {ty} yet"));
                }
                _ => {}
            }
        }
    }
    SyncState::Synced {
        proxies: proxies.len(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn proxy(name: &str, version: u64, lds: &str) -> Value {
        json!({
            "name": name,
            "config_version": version,
            "types": {
                "CDS": {"state": "SYNCED"},
                "LDS": {"state": lds, "error": "bad listener"},
                "RDS": {"state": "NOT_SENT"},
            },
        })
    }

    #[test]
    fn synced_when_every_proxy_acked_this_version_or_later() {
        let syncz = json!([proxy("a.demo", 4, "SYNCED"), proxy("b.demo", 5, "SYNCED")]);
        assert_eq!(sync_state(&syncz, 4), SyncState::Synced { proxies: 2 });
        assert!(matches!(sync_state(&syncz, 5), SyncState::Behind(w) if w.contains("a.demo")));
    }

    #[test]
    fn stale_is_behind_and_nacked_carries_the_error() {
        let stale = json!([proxy("a.demo", 4, "STALE")]);
        assert!(matches!(sync_state(&stale, 4), SyncState::Behind(w) if w.contains("LDS")));
        let nacked = json!([proxy("a.demo", 4, "NACKED")]);
        assert!(
            matches!(sync_state(&nacked, 4), SyncState::Nacked(w) if w.contains("bad listener"))
        );
    }
}
