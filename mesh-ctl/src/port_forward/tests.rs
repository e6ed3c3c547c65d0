use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;
use crate::fake_api::{self, list};

pub(crate) fn control_pod(name: &str, created: &str, phase: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "mesh-system", "resourceVersion": "31",
                     "creationTimestamp": created,
                     "labels": {"app.kubernetes.io/name": "mesh-control"}},
        "spec": {"containers": [{"name": "mesh-control", "image": "ghcr.io/mesh-dev/mesh-control:0.1.0"}]},
        "status": {"phase": phase, "conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]},
    })
}

#[tokio::test]
async fn the_newest_ready_control_plane_pod_is_chosen() {
    let client = fake_api::client(|seen| {
        assert_eq!(seen.method, "GET");
        assert!(
            seen.uri.starts_with("/api/v1/namespaces/mesh-system/pods?")
                && seen
                    .uri
                    .contains("labelSelector=app.kubernetes.io%2Fname%3Dmesh-control"),
            "{}",
            seen.uri
        );
        (
            200,
            list(
                "Pod",
                "v1",
                vec![
                    control_pod("mesh-control-old", "2026-12-01T10:00:00Z", "Running", true),
                    control_pod("mesh-control-new", "2026-12-03T10:00:00Z", "Running", true),
                    control_pod(
                        "mesh-control-starting",
                        "2026-12-03T11:00:00Z",
                        "Running",
                        false,
                    ),
                    control_pod(
                        "mesh-control-pending",
                        "2026-12-03T11:30:00Z",
                        "Pending",
                        false,
                    ),
                ],
            ),
        )
    });
    assert_eq!(
        control_plane_pod(&client, "mesh-system").await.unwrap(),
        "mesh-control-new"
    );
}

#[tokio::test]
async fn no_control_plane_pod_says_to_install_or_name_the_namespace() {
    let client = fake_api::client(|_| (200, list("Pod", "v1", vec![])));
    let err = control_plane_pod(&client, "mesh-system")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no mesh-control pod in namespace mesh-system"),
        "{err}"
    );
    assert!(err.contains("--mesh-namespace"), "{err}");

    let client = fake_api::client(|_| {
        (
            200,
            list(
                "Pod",
                "v1",
                vec![control_pod(
                    "mesh-control-a",
                    "2026-12-03T10:00:00Z",
                    "Running",
                    false,
                )],
            ),
        )
    });
    let err = control_plane_pod(&client, "mesh-system")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is ready; check `kubectl -n mesh-system get pods"),
        "{err}"
    );
}

#[tokio::test]
async fn relay_copies_both_ways_until_close() {
    let (mut client, local) = tokio::io::duplex(64);
    let (remote, mut pod) = tokio::io::duplex(64);
    let relayed = tokio::spawn(relay(local, remote));
    client
        .write_all(b"GET /version HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let mut request = [0u8; 25];
    pod.read_exact(&mut request).await.unwrap();
    assert_eq!(&request, b"GET /version HTTP/1.1\r\n\r\n");
    pod.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
    drop(pod);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, b"HTTP/1.1 200 OK\r\n\r\n");
    drop(client);
    relayed.await.unwrap();
}
