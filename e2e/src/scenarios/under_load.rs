//! Changes a mesh must make without failing a request: shifting traffic between
//! versions, removing a pod (endpoints first, then a draining sidecar), and losing the
//! control plane for a while (proxies keep their last config and reconnect).
//!
//! Each runs steady load from a meshed client in the background while the change
//! happens, and checks that the change really happened during the load.

use std::time::{Duration, Instant};

use mesh_sample_app::Summary;

use super::{WEB_SERVICE, WEB_SUBSETS, apply_synced, client, web, web_split};
use crate::cluster::{Cluster, ClusterError, Pod, Running, sync};

/// Requests of a background load, 4 at a time: a few seconds on a debug build, long
/// enough to cover a config change or a pod's removal.
const LOAD: u64 = 4000;
/// The control plane's restart also waits for every proxy's reconnection back-off.
const RESTART_LOAD: u64 = 12_000;

/// 100% v1 → 50/50 → 100% v2 while requests flow: every request answered 200, both
/// versions answered, and the last requests all went to v2.
pub async fn traffic_shift_under_load<C: Cluster>(cluster: &mut C) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", WEB_SERVICE).await?;
    let client = client(cluster).await?;
    web(cluster, "web-v1-0", "v1").await?;
    web(cluster, "web-v2-0", "v2").await?;
    apply_synced(cluster, "subsets.yaml", WEB_SUBSETS).await?;
    apply_synced(cluster, "vs.yaml", &web_split(100)).await?;

    let load = Load::start(cluster, &client, LOAD * cluster.load_scale())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    apply_synced(cluster, "vs.yaml", &web_split(50)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    apply_synced(cluster, "vs.yaml", &web_split(0)).await?;
    let changed = load.elapsed();
    let summary = load.finish(changed).await?;
    assert_no_failures(&summary, "traffic shifting");
    assert!(
        summary.workload_count("web/v1") > 0 && summary.workload_count("web/v2") > 0,
        "both versions answered during the shift: {summary}"
    );
    let after = cluster
        .request(&client, "http://web:9080/", &["-n", "20"])
        .await?;
    assert_eq!(after.workload_count("web/v2"), 20, "all on v2 now: {after}");
    Ok(())
}

/// One of two pods is removed while requests flow: its endpoint leaves every proxy
/// first, then its sidecar drains; no request fails and the survivor takes over.
pub async fn pod_removed_under_load<C: Cluster>(cluster: &mut C) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", WEB_SERVICE).await?;
    let client = client(cluster).await?;
    web(cluster, "web-v1-0", "v1").await?;
    let leaving = web(cluster, "web-v1-1", "v1").await?;

    let load = Load::start(cluster, &client, LOAD * cluster.load_scale())?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The endpoint leaves and the sidecar is told to drain within about a second; the
    // rest of `remove` is the drain waiting for idle connections, which no request uses.
    let risky_until = load.elapsed() + Duration::from_secs(1);
    cluster.remove(&leaving).await?;
    let summary = load.finish(risky_until).await?;
    assert_no_failures(&summary, "removing a pod");
    let after = cluster
        .exec(
            &client,
            &[crate::cluster::SAMPLE_APP, "get", "http://web:9080/"],
        )
        .await?;
    assert!(
        after.stdout.contains("\"pod\": \"web-v1-0\""),
        "the remaining pod answers: {after:?}"
    );
    Ok(())
}

/// The control plane stops for a second and comes back while requests flow: no
/// request fails, every proxy reconnects, and a config change after the restart is
/// followed.
pub async fn control_plane_restart_under_load<C: Cluster>(
    cluster: &mut C,
) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", WEB_SERVICE).await?;
    let client = client(cluster).await?;
    web(cluster, "web-v1-0", "v1").await?;
    web(cluster, "web-v2-0", "v2").await?;
    apply_synced(cluster, "subsets.yaml", WEB_SUBSETS).await?;
    apply_synced(cluster, "vs.yaml", &web_split(100)).await?;

    let load = Load::start(cluster, &client, RESTART_LOAD * cluster.load_scale())?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.stop_control_plane().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start_control_plane().await?;
    wait_connected(cluster, 3).await?;
    let changed = load.elapsed();
    let summary = load.finish(changed).await?;
    assert_no_failures(&summary, "restarting the control plane");
    assert_eq!(
        summary.workload_count("web/v1"),
        summary.requests,
        "the routes in force stayed in force: {summary}"
    );

    apply_synced(cluster, "vs.yaml", &web_split(0)).await?;
    let after = cluster
        .request(&client, "http://web:9080/", &["-n", "20"])
        .await?;
    assert_eq!(
        after.workload_count("web/v2"),
        20,
        "proxies follow config again: {after}"
    );
    Ok(())
}

/// Background requests to `web` and when the change they cover ended.
struct Load {
    running: Running,
    started: Instant,
}

impl Load {
    fn start<C: Cluster>(cluster: &C, client: &Pod, requests: u64) -> Result<Load, ClusterError> {
        let n = requests.to_string();
        let args = ["-n", n.as_str(), "-c", "4"];
        let running = cluster.request_in_background(client, "http://web:9080/", &args)?;
        Ok(Load {
            running,
            started: Instant::now(),
        })
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the load; panics if it ended before `covered` (since its start): then
    /// it proved nothing, and the load must be larger.
    async fn finish(self, covered: Duration) -> Result<Summary, ClusterError> {
        let summary = self.running.summary().await?;
        assert!(
            Duration::from_secs_f64(summary.elapsed_ms / 1000.0) > covered,
            "the load ({:.0} ms) ended before the change ({covered:?}); make it larger",
            summary.elapsed_ms
        );
        Ok(summary)
    }
}

fn assert_no_failures(summary: &Summary, during: &str) {
    assert_eq!(
        summary.successes(),
        summary.requests,
        "no request may fail while {during}: {summary}"
    );
}

/// Waits until `proxies` proxies are connected and have ACKed the control plane's
/// config (after a restart, the config version starts again).
async fn wait_connected<C: Cluster>(cluster: &C, proxies: usize) -> Result<(), ClusterError> {
    let deadline = Instant::now() + super::PUSH_TIMEOUT;
    loop {
        let synced = sync::wait_synced(cluster, 0, super::PUSH_TIMEOUT).await?;
        if synced.proxies >= proxies {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ClusterError::ControlPlane(format!(
                "{} of {proxies} proxies reconnected after {:?}",
                synced.proxies,
                super::PUSH_TIMEOUT
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
