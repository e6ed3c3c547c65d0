//! The interop matrix on the local cluster: mesh-proxy and real Envoy sidecars, with
//! certificates from mesh-control's CA (`mesh-proxy run --token-file --root-cert`,
//! Envoy through `mesh-proxy agent` over SDS), STRICT mTLS mesh-wide; every client
//! proxy to every server proxy for HTTP/1.1, gRPC and TCP (`e2e::scenarios::mtls`);
//! certificates rotating every minute under load, and the CA away for longer than a
//! rotation.
//!
//! Needs root, `ip`, `ss`, `setpriv`, iptables and Envoy (CI runs as root and
//! installs them); run by hand without them it prints why it skipped.

use std::time::{Duration, Instant};

use e2e::cluster::{Cluster, LocalCluster, Pod};
use e2e::prerequisites::{self, Prerequisite, SIDECAR_PODS};
use e2e::scenarios::mtls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_proxy_reaches_every_server_proxy_over_strict_mtls() {
    if !prerequisites::met(SIDECAR_PODS) || !prerequisites::met(&[Prerequisite::Envoy]) {
        return;
    }
    let mut cluster = LocalCluster::start()
        .await
        .expect("the local cluster starts");
    mtls::interop_matrix(&mut cluster)
        .await
        .expect("the interop matrix");
}

/// Certificates living a minute rotate at about half of it: under steady load, no
/// request fails while both sidecars move to new certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotating_every_minute_lose_no_request() {
    let Some((cluster, client, web)) = minute_certificates().await else {
        return;
    };
    let before = serials(&cluster, &client, &web).await;
    let covered = Duration::from_secs(45);
    let load = mtls::steady_load(&cluster, &client, covered)
        .await
        .expect("load starts");
    let started = Instant::now();
    // Both sidecars renew at 40–50% of a minute: within 45 s each has rotated.
    let rotated = e2e::eventually("both certificates to rotate", covered, || async {
        let now = serials(&cluster, &client, &web).await;
        if now.0 != before.0 && now.1 != before.1 {
            Ok(now)
        } else {
            Err(format!("serials {now:?}, were {before:?}"))
        }
    })
    .await;
    let rotated_after = started.elapsed();
    let summary = load.summary().await.expect("the load's summary");
    assert!(
        Duration::from_secs_f64(summary.elapsed_ms / 1000.0) > rotated_after,
        "the load ended before the rotation; make it larger: {summary}"
    );
    assert_eq!(
        summary.successes(),
        summary.requests,
        "no request may fail across the rotation {before:?} → {rotated:?}: {summary}"
    );
}

/// The control plane away for longer than the rotation interval: the sidecars keep
/// serving on their current certificates (renewals fail and back off), and renew
/// once it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_serve_on_their_certificates_while_the_ca_is_away() {
    let Some((mut cluster, client, web)) = minute_certificates().await else {
        return;
    };
    let before = serials(&cluster, &client, &web).await;
    // Away for 35 s: past the first renewal (24–30 s), before the expiry (60 s).
    let away = Duration::from_secs(35);
    let load = mtls::steady_load(&cluster, &client, away)
        .await
        .expect("load starts");
    let started = Instant::now();
    cluster.stop_control_plane().await.expect("stop");
    tokio::time::sleep(away).await;
    cluster.start_control_plane().await.expect("restart");
    let back_after = started.elapsed();
    let summary = load.summary().await.expect("the load's summary");
    assert!(
        Duration::from_secs_f64(summary.elapsed_ms / 1000.0) > back_after,
        "the load ended while the control plane was away; make it larger: {summary}"
    );
    assert_eq!(
        summary.successes(),
        summary.requests,
        "no request may fail while the CA is away: {summary}"
    );
    // Back: the renewals that failed meanwhile now succeed.
    e2e::eventually(
        "both sidecars to renew after the CA returned",
        Duration::from_secs(40),
        || async {
            let now = serials(&cluster, &client, &web).await;
            if now.0 != before.0 && now.1 != before.1 {
                Ok(())
            } else {
                Err(format!("serials {now:?}, were {before:?}"))
            }
        },
    )
    .await;
    let after = cluster
        .request(&client, "http://web:9080/", &["-n", "20"])
        .await
        .expect("requests after the return");
    assert_eq!(after.successes(), 20, "{after}");
}

/// A client and `web` under STRICT mTLS with certificates living a minute; `None`
/// where the local cluster cannot run.
async fn minute_certificates() -> Option<(LocalCluster, Pod, Pod)> {
    if !prerequisites::met(SIDECAR_PODS) {
        return None;
    }
    let mut cluster = LocalCluster::start()
        .await
        .expect("the local cluster starts");
    cluster.set_workload_cert_ttl(Duration::from_secs(60));
    let (client, web) = mtls::strict_pair(&mut cluster).await.expect("deploy");
    Some((cluster, client, web))
}

async fn serials(cluster: &LocalCluster, client: &Pod, web: &Pod) -> (String, String) {
    let client = mtls::serving_serial(cluster, client)
        .await
        .expect("client /certs");
    let web = mtls::serving_serial(cluster, web)
        .await
        .expect("web /certs");
    (client, web)
}
