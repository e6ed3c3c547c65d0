//! The mesh on Kubernetes (kind, in GitHub Actions): the scenarios of
//! `e2e::scenarios` against pods injected by the mesh's webhook, config applied as
//! CRDs, and the control plane installed by its chart.
//!
//! Selected by `MESH_E2E_KIND=1`, which `cargo xtask e2e kind` sets after creating the
//! cluster and installing the charts; without it every test says why it skips. The
//! scenarios share the namespace `mesh`: run with `--test-threads=1`.

use std::net::SocketAddr;

use e2e::cluster::kind::{KindCluster, KindConfig};
use e2e::cluster::spec::EXCLUDE_INBOUND_PORTS;
use e2e::cluster::{Cluster, PodSpec, SAMPLE_APP};
use e2e::scenarios::{self, capture, mtls, protocols, under_load};

/// The inbound listener's request counter of port 9080 (Istio's stat name).
const INBOUND_9080: &str = "http.inbound_0.0.0.0_9080.downstream_rq_total";

/// No mTLS to `web`'s port 9080, whose traffic bypasses its sidecar (as an Istio user
/// must configure an excluded inbound port).
const WEB_9080_PLAINTEXT: &str = "
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: web-9080-plaintext, namespace: mesh}
    spec:
      host: web
      trafficPolicy:
        portLevelSettings:
        - port: {number: 9080}
          tls: {mode: DISABLE}
";

/// The cluster with what earlier tests left swept away, or `None` (after saying why)
/// when the kind suite is not selected.
async fn cluster() -> Option<KindCluster> {
    let config = KindConfig::from_env()?;
    Some(
        KindCluster::start(config)
            .await
            .expect("the kind cluster answers and the control plane runs"),
    )
}

// The scenarios shared with the other suite: one test each, on this suite's cluster.
e2e::scenario_tests! {
    cluster;
    requests_to_a_vip_pass_the_client_and_server_sidecars => capture::outbound_and_inbound_capture;
    http1_h2c_grpc_and_server_first_tcp_pass_through_the_mesh => protocols::http1_h2c_grpc_and_tcp_through_the_mesh;
    traffic_shifts_under_load_without_a_failed_request => under_load::traffic_shift_under_load;
    a_pod_removed_under_load_drains_without_a_failed_request => under_load::pod_removed_under_load;
    control_plane_restart_under_load_fails_no_request => under_load::control_plane_restart_under_load;
}

/// The inbound half of `capture::excluded_ports_bypass_the_sidecar`. Its outbound half
/// (a VIP on an excluded port goes nowhere) holds only on the local cluster: on
/// Kubernetes, kube-proxy routes a VIP without the sidecar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excluded_inbound_port_reaches_the_app_without_its_sidecar() {
    let Some(mut cluster) = cluster().await else {
        return;
    };
    cluster
        .apply("web.yaml", scenarios::WEB_SERVICE)
        .await
        .expect("apply");
    cluster
        .apply("web-9080-plaintext.yaml", WEB_9080_PLAINTEXT)
        .await
        .expect("apply");
    let client = scenarios::client(&mut cluster).await.expect("client");
    let outside =
        PodSpec::sample_app("outside-0", scenarios::NAMESPACE, "outside", "v1", &[]).sidecar(false);
    let outside = cluster.deploy(outside).await.expect("outsider");
    let web = PodSpec::sample_app("web-v1-0", scenarios::NAMESPACE, "web", "v1", &[])
        .annotation(EXCLUDE_INBOUND_PORTS, "9080");
    let web = scenarios::deploy_synced(&mut cluster, web)
        .await
        .expect("web");

    let through_the_mesh = cluster
        .request(&client, "http://web:9080/", &["-n", "3"])
        .await
        .expect("request");
    assert_eq!(
        through_the_mesh.workload_count("web/v1"),
        3,
        "{through_the_mesh}"
    );
    let before = scenarios::proxy_counter(&cluster, &web, INBOUND_9080)
        .await
        .expect("stats");
    let url = format!("http://{}/", SocketAddr::new(web.ip, 9080));
    let echo = capture::get(&cluster, &outside, &url).await.expect("get");
    for header in ["x-request-id", "x-forwarded-proto"] {
        assert!(
            !echo.headers.contains_key(header),
            "9080 is excluded inbound: no sidecar adds {header}: {:?}",
            echo.headers
        );
    }
    let after = scenarios::proxy_counter(&cluster, &web, INBOUND_9080)
        .await
        .expect("stats");
    assert_eq!(
        after, before,
        "web's sidecar saw nothing on its excluded port"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mtls_carries_the_callers_identity_and_refuses_plain_text() {
    let Some(mut cluster) = cluster().await else {
        return;
    };
    let (client, web) = mtls::strict_pair(&mut cluster).await.expect("deploy");
    let out = cluster
        .exec(&client, &[SAMPLE_APP, "get", "http://web:9080/"])
        .await
        .expect("exec");
    assert!(out.success(), "a meshed client reaches web: {out:?}");
    let caller = format!("URI={}", mtls::spiffe("default"));
    assert!(
        out.stdout.contains(&caller),
        "web sees the client's identity ({caller}) in x-forwarded-client-cert: {}",
        out.stdout
    );
    let outsider = PodSpec::sample_app("outsider-0", scenarios::NAMESPACE, "outsider", "v1", &[])
        .sidecar(false);
    let outsider = cluster.deploy(outsider).await.expect("deploy the outsider");
    let url = format!("http://{}:9080/", web.ip);
    let refused = cluster
        .exec(&outsider, &[SAMPLE_APP, "get", &url])
        .await
        .expect("exec");
    assert_ne!(
        refused.status, 0,
        "plain text from outside the mesh must not reach a STRICT pod: {}",
        refused.stdout
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
    let outside =
        PodSpec::sample_app("outside-0", scenarios::NAMESPACE, "outside", "v1", &[]).sidecar(false);
    let outside = cluster.deploy(outside).await.expect("deploy an outsider");
    let url = format!("http://{}:9080/", web.ip);
    let summary = cluster
        .request(&outside, &url, &["-n", "5"])
        .await
        .expect("request");
    assert_eq!(summary.workload_count("web/v1"), 5, "{summary}");
    // Through the Service's name too: cluster DNS and kube-proxy, no sidecar.
    let by_name = cluster
        .request(&outside, "http://web:9080/", &["-n", "5"])
        .await
        .expect("request by name");
    assert_eq!(by_name.workload_count("web/v1"), 5, "{by_name}");
}
