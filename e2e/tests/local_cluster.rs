//! The local cluster itself (network namespaces as pods on a bridge, mesh-control on
//! the bridge): pods without sidecars reach each other by pod IP and by name through
//! the hosts file, the server-first TCP banner arrives, service names resolve to
//! their VIPs, and nothing is left behind afterwards.
//!
//! Needs root, `ip`, `ss` and `setpriv` (CI runs as root and installs them); run by
//! hand without them it prints why it skipped.

use std::process::Command;

use e2e::cluster::{Cluster, LocalCluster, PodSpec};
use e2e::prerequisites::{self, LOCAL_CLUSTER};

const SERVICES: &str = "
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: demo}
    spec:
      clusterIP: 10.96.0.50
      selector: {app: web}
      ports: [{name: http, port: 9080}, {name: tcp, port: 9000}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-pods, namespace: demo}
    spec:
      clusterIP: None
      selector: {app: web}
      ports: [{name: http, port: 9080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: other, namespace: demo}
    spec:
      selector: {app: other}
      ports: [{name: http, port: 9080}]
";

fn skip() -> bool {
    !prerequisites::met(LOCAL_CLUSTER)
}

fn command_output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("command runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_without_sidecars_reach_each_other_by_ip_and_by_name() {
    if skip() {
        return;
    }
    let mut cluster = LocalCluster::start()
        .await
        .expect("the local cluster starts");
    let id = cluster.id().to_string();
    cluster
        .apply("services.yaml", SERVICES)
        .await
        .expect("apply services");
    let client = PodSpec::sample_app("client-0", "demo", "client", "v1", &[]).sidecar(false);
    let client = cluster.deploy(client).await.expect("deploy the client");
    let web = PodSpec::sample_app("web-v1-0", "demo", "web", "v1", &[]).sidecar(false);
    let web = cluster.deploy(web).await.expect("deploy web");

    let by_ip = format!("http://{}:9080/", web.ip);
    let summary = cluster
        .request(&client, &by_ip, &["-n", "5"])
        .await
        .expect("request by IP");
    assert_eq!(summary.workload_count("web/v1"), 5, "{summary}");

    // A headless Service's names resolve to its pods, short and fully qualified.
    for url in [
        "http://web-pods:9080/",
        "http://web-pods.demo.svc.cluster.local:9080/",
    ] {
        let summary = cluster
            .request(&client, url, &[])
            .await
            .expect("request by name");
        assert_eq!(summary.workload_count("web/v1"), 1, "{url}: {summary}");
    }

    let banner = cluster
        .tcp(&client, "web-pods:9000", &["ping"])
        .await
        .expect("TCP");
    assert_eq!(banner, ["HELLO web v1", "ping"]);
    let grpc = cluster
        .grpc(&client, "web-pods:9090", &["-n", "3"])
        .await
        .expect("gRPC");
    assert_eq!(grpc.status_count("grpc 0"), 3, "{grpc}");

    // Service names resolve to the VIP (given, or assigned from 10.96.0.10 on); the
    // VIP itself only routes through a sidecar.
    let getent = cluster
        .exec(&client, &["getent", "hosts", "web.demo.svc.cluster.local"])
        .await
        .expect("getent");
    assert!(getent.stdout.starts_with("10.96.0.50 "), "{getent:?}");
    let assigned = cluster
        .exec(&client, &["getent", "hosts", "other"])
        .await
        .expect("getent");
    assert!(assigned.stdout.starts_with("10.96.0.10 "), "{assigned:?}");
    let config =
        std::fs::read_to_string(cluster.config_dir().join("services.yaml")).expect("config");
    assert!(config.contains("clusterIP: 10.96.0.10"), "{config}");

    // The app's user is an ordinary one; the control plane has the pods as workloads.
    let uid = cluster.exec(&web, &["id", "-u"]).await.expect("id");
    assert_eq!(uid.stdout.trim(), "1000");
    assert!(
        cluster
            .config_dir()
            .join("pod.demo.web-v1-0.yaml")
            .is_file()
    );
    let syncz = cluster
        .control_plane_debug("/debug/syncz")
        .await
        .expect("syncz");
    assert!(
        serde_json::from_str::<serde_json::Value>(&syncz).is_ok(),
        "{syncz}"
    );

    // A removed pod leaves its headless Service's names.
    let names = cluster.netns_names();
    assert_eq!(names.len(), 3);
    cluster.remove(&web).await.expect("remove web");
    let gone = cluster
        .exec(&client, &["getent", "hosts", "web-pods"])
        .await
        .expect("getent");
    assert!(!gone.success(), "{gone:?}");
    assert!(!cluster.config_dir().join("pod.demo.web-v1-0.yaml").exists());

    drop(cluster);
    let namespaces = command_output("ip", &["netns", "list"]);
    assert!(!namespaces.contains(&id), "left behind:\n{namespaces}");
    let links = command_output("ip", &["link"]);
    assert!(!links.contains("meshlc"), "left behind:\n{links}");
    let etc = std::fs::read_dir("/etc/netns")
        .map(|d| d.flatten().count())
        .unwrap_or(0);
    let ours = std::fs::read_dir("/etc/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&id))
        .count();
    assert_eq!(ours, 0, "{etc} entries in /etc/netns, {ours} of ours");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_sweeps_namespaces_left_by_dead_runs() {
    if skip() {
        return;
    }
    // A process that has exited stands for a test run that was killed.
    let mut dead = Command::new("true").spawn().expect("spawn true");
    let pid = dead.id();
    dead.wait().expect("wait");
    let stale = format!("meshlc-{pid}-0-br");
    let added = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .expect("ip");
    assert!(added.success());
    std::fs::create_dir_all(format!("/etc/netns/{stale}")).expect("etc dir");

    let cluster = LocalCluster::start()
        .await
        .expect("the local cluster starts");
    let namespaces = command_output("ip", &["netns", "list"]);
    assert!(!namespaces.contains(&stale), "not swept:\n{namespaces}");
    assert!(!std::path::Path::new(&format!("/etc/netns/{stale}")).exists());
    assert!(namespaces.contains(cluster.id()), "{namespaces}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_whose_app_exits_fails_to_deploy_with_its_log() {
    if skip() {
        return;
    }
    let mut cluster = LocalCluster::start()
        .await
        .expect("the local cluster starts");
    let broken = PodSpec::sample_app("broken", "demo", "broken", "v1", &[])
        .args(&["--fail-rate", "2"])
        .sidecar(false);
    let err = cluster
        .deploy(broken)
        .await
        .expect_err("the app exits at once");
    let text = err.to_string();
    assert!(
        text.contains("demo/broken") && text.contains("--fail-rate"),
        "{text}"
    );
    assert_eq!(
        cluster.netns_names().len(),
        1,
        "the failed pod is cleaned up"
    );
}
