//! The mesh on the local cluster: pods with real sidecars (`mesh-proxy redirect`, then
//! `mesh-proxy run` as uid 1337) running the scenarios of `e2e::scenarios`, plus what
//! only a local cluster can show (the proxy's own uid is not captured).
//!
//! Needs root, `ip`, `ss`, `setpriv`, iptables and curl (CI runs as root and installs
//! them); run by hand without them each test prints why it skipped.

use e2e::cluster::{Cluster, LocalCluster, PodSpec};
use e2e::prerequisites::{self, CURL, SIDECAR_PODS};
use e2e::scenarios::{self, capture, protocols, under_load};

/// A fresh cluster, or `None` (after saying why) where one cannot run.
async fn cluster() -> Option<LocalCluster> {
    if !prerequisites::met(SIDECAR_PODS) {
        return None;
    }
    Some(
        LocalCluster::start()
            .await
            .expect("the local cluster starts"),
    )
}

// The scenarios shared with the other suite: one test each, on this suite's cluster.
e2e::scenario_tests! {
    cluster;
    requests_to_a_vip_pass_the_client_and_server_sidecars => capture::outbound_and_inbound_capture;
    excluded_ports_bypass_the_sidecar => capture::excluded_ports_bypass_the_sidecar;
    http1_h2c_grpc_and_server_first_tcp_pass_through_the_mesh => protocols::http1_h2c_grpc_and_tcp_through_the_mesh;
    traffic_shifts_under_load_without_a_failed_request => under_load::traffic_shift_under_load;
    a_pod_removed_under_load_drains_without_a_failed_request => under_load::pod_removed_under_load;
    control_plane_restart_under_load_fails_no_request => under_load::control_plane_restart_under_load;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_own_traffic_is_not_captured() {
    // The app here is curl, run with and without the proxy's uid.
    if !prerequisites::met(&[CURL]) {
        return;
    }
    let Some(mut cluster) = cluster().await else {
        return;
    };
    cluster
        .apply("web.yaml", scenarios::WEB_SERVICE)
        .await
        .expect("apply");
    // Ready means the sidecar got its config over xDS with the redirect rules in place:
    // had its own connection been captured, it would have looped into 15001.
    let client = scenarios::client(&mut cluster)
        .await
        .expect("a meshed pod becomes ready");
    let web = scenarios::web(&mut cluster, "web-v1-0", "v1")
        .await
        .expect("deploy web");
    let syncz = cluster
        .control_plane_debug("/debug/syncz")
        .await
        .expect("syncz");
    assert!(syncz.contains("client-0.mesh"), "{syncz}");

    // The VIP routes only through a sidecar: root's connection (captured) gets an
    // answer, uid 1337's (exempt) goes to the bridge and nowhere.
    let curl_as = |uid: Option<&'static str>, url: String| {
        let mut argv: Vec<String> = Vec::new();
        if let Some(uid) = uid {
            argv.extend(
                [
                    "setpriv",
                    "--reuid",
                    uid,
                    "--regid",
                    uid,
                    "--clear-groups",
                    "--",
                ]
                .map(String::from),
            );
        }
        argv.extend(["curl", "-sf", "-m", "2", "-o", "/dev/null"].map(String::from));
        argv.push(url);
        argv
    };
    let run = |argv: Vec<String>| {
        let cluster = &cluster;
        let client = &client;
        async move {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            cluster
                .exec_as_root(client, &argv)
                .await
                .expect("curl runs")
        }
    };
    let captured = run(curl_as(None, "http://web:9080/".into())).await;
    assert!(
        captured.success(),
        "root's traffic is captured: {captured:?}"
    );
    let exempt = run(curl_as(Some("1337"), "http://web:9080/".into())).await;
    assert!(
        !exempt.success(),
        "uid 1337 is not captured, so the VIP is unreachable for it: {exempt:?}"
    );
    let direct = run(curl_as(Some("1337"), format!("http://{}:9080/", web.ip))).await;
    assert!(
        direct.success(),
        "uid 1337 reaches a pod IP directly: {direct:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_out_of_the_mesh_still_reach_meshed_pods() {
    let Some(mut cluster) = cluster().await else {
        return;
    };
    cluster
        .apply("web.yaml", scenarios::WEB_SERVICE)
        .await
        .expect("apply");
    let web = scenarios::web(&mut cluster, "web-v1-0", "v1")
        .await
        .expect("deploy web");
    let outside = cluster
        .deploy(
            PodSpec::sample_app("outside-0", scenarios::NAMESPACE, "outside", "v1", &[])
                .sidecar(false),
        )
        .await
        .expect("deploy a pod without sidecar");
    let url = format!("http://{}:9080/", web.ip);
    let summary = cluster
        .request(&outside, &url, &["-n", "5"])
        .await
        .expect("request");
    assert_eq!(summary.workload_count("web/v1"), 5, "{summary}");
}
