//! What a Pod read back from the API server says: its IP and whether the injector
//! gave it a sidecar.

use std::net::IpAddr;

use serde_json::Value;

/// The container the injector adds (as a container, or as a native sidecar: an init
/// container that keeps running).
pub const PROXY_CONTAINER: &str = "mesh-proxy";

/// `status.podIP`, once the pod has one.
pub fn pod_ip(pod: &Value) -> Option<IpAddr> {
    pod.get("status")?.get("podIP")?.as_str()?.parse().ok()
}

/// The names of the pod's containers and init containers.
pub fn container_names(pod: &Value) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|list| pod.get("spec")?.get(*list)?.as_array())
        .flatten()
        .filter_map(|c| c.get("name")?.as_str().map(str::to_string))
        .collect()
}

/// Whether the injector added the proxy.
pub fn has_sidecar(pod: &Value) -> bool {
    container_names(pod).iter().any(|n| n == PROXY_CONTAINER)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_native_sidecar_counts_as_the_proxy() {
        let native = json!({
            "spec": {
                "initContainers": [{"name": "mesh-redirect"}, {"name": "mesh-proxy", "restartPolicy": "Always"}],
                "containers": [{"name": "app"}],
            },
            "status": {"podIP": "10.244.1.7"},
        });
        assert!(has_sidecar(&native));
        assert_eq!(pod_ip(&native), Some("10.244.1.7".parse().expect("ip")));
        assert_eq!(
            container_names(&native),
            ["mesh-redirect", "mesh-proxy", "app"]
        );
        let plain = json!({"spec": {"containers": [{"name": "app"}]}, "status": {}});
        assert!(!has_sidecar(&plain));
        assert_eq!(pod_ip(&plain), None);
    }
}
