use serde_json::{Value, json};

use super::*;
use crate::fake_api::{self, list};
use crate::port_forward::tests::control_pod;

fn app_pod(name: &str, namespace: &str, proxy_image: Option<&str>, native: bool) -> Value {
    let mut containers = vec![json!({"name": "app", "image": "shop/web:2.4"})];
    let mut init = vec![];
    if let Some(image) = proxy_image {
        let proxy = json!({"name": "mesh-proxy", "image": image, "restartPolicy": "Always"});
        if native {
            init.push(proxy)
        } else {
            containers.push(proxy)
        }
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "88"},
        "spec": {"containers": containers, "initContainers": init},
        "status": {"phase": "Running"},
    })
}

#[tokio::test]
async fn versions_come_from_the_control_plane_pod_and_the_injected_proxies() {
    let client = fake_api::client(|seen| {
        let pods = match seen.uri.split('?').next().unwrap_or_default() {
            "/api/v1/pods" => vec![
                control_pod("mesh-control-7d9", "2026-12-03T10:00:00Z", "Running", true),
                app_pod(
                    "web-1",
                    "shop",
                    Some("ghcr.io/mesh-dev/mesh-proxy:0.1.0"),
                    true,
                ),
                app_pod(
                    "web-2",
                    "shop",
                    Some("ghcr.io/mesh-dev/mesh-proxy:0.1.0"),
                    false,
                ),
                app_pod(
                    "db-0",
                    "shop",
                    Some("localhost:5000/mesh-proxy:0.0.9"),
                    false,
                ),
                app_pod("plain", "default", None, false),
            ],
            "/api/v1/namespaces/mesh-system/pods" => vec![control_pod(
                "mesh-control-7d9",
                "2026-12-03T10:00:00Z",
                "Running",
                true,
            )],
            other => panic!("unexpected request {other}"),
        };
        (200, list("Pod", "v1", pods))
    });
    let facts = read_facts(&client, "mesh-system").await.unwrap();
    assert_eq!(
        facts.control_plane_image,
        Some((
            "0.1.0".to_string(),
            "mesh-control-7d9.mesh-system".to_string()
        ))
    );
    assert_eq!(facts.control_plane_missing, None);
    assert_eq!(
        facts.data_plane,
        BTreeMap::from([("0.0.9".to_string(), 1), ("0.1.0".to_string(), 2)])
    );
}

#[test]
fn the_report_names_its_sources_and_short_drops_them() {
    let versions = Versions {
        client_version: "0.1.0".to_string(),
        control_plane: Some(ControlPlaneVersion {
            version: "0.1.0".to_string(),
            source: "pod mesh-control-7d9.mesh-system (port-forward)".to_string(),
        }),
        data_plane: BTreeMap::from([("0.1.0".to_string(), 1)]),
        connected_proxies: Some(1),
        problems: vec![],
    };
    assert_eq!(
        render(&versions, false),
        "client version: 0.1.0\n\
         control plane version: 0.1.0 (pod mesh-control-7d9.mesh-system (port-forward))\n\
         data plane version: 0.1.0 (1 proxy)\n\
         proxies connected to the control plane: 1\n"
    );
    assert_eq!(
        render(&versions, true),
        "client version: 0.1.0\ncontrol plane version: 0.1.0\ndata plane version: 0.1.0\n"
    );
}

#[test]
fn without_a_cluster_the_client_version_and_the_reason() {
    let versions = Versions {
        client_version: "0.1.0".to_string(),
        problems: vec!["the cluster was not reachable: connection refused".to_string()],
        ..Versions::default()
    };
    assert_eq!(
        render(&versions, false),
        "client version: 0.1.0\nnote: the cluster was not reachable: connection refused\n"
    );
    let json = serde_json::to_value(&versions).unwrap();
    assert_eq!(json["clientVersion"], "0.1.0");
    assert!(json.get("controlPlane").is_none());
}
