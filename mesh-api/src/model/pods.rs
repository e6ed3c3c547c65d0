//! Pods as workloads: what the proxy of a pod runs as, and what the endpoints of
//! EndpointSlices are enriched from (labels, service account, locality).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use super::{Workload, WorkloadPolicies};
use crate::object::ObjectRef;

/// Istio's pod label for a workload's network.
const NETWORK_LABEL: &str = "topology.istio.io/network";
/// Istio's pod label for a workload's locality, `region.zone.subzone` (label values
/// cannot hold the `/` of a locality).
const LOCALITY_LABEL: &str = "istio-locality";

/// The workload a Pod is, or `None` while it has no IP and once it has finished
/// (phase Succeeded or Failed: its IP may already be another pod's).
pub(super) fn pod_workload(r: &ObjectRef, pod: &Pod) -> Option<Workload> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let address = status.pod_ip.clone().filter(|ip| !ip.is_empty())?;
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.as_ref();
    // `serviceAccount` is the deprecated alias the API server still fills in.
    let service_account = spec
        .and_then(|s| s.service_account_name.clone().or(s.service_account.clone()))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "default".to_string());
    let mut ports = BTreeMap::new();
    let container_ports = spec
        .into_iter()
        .flat_map(|s| &s.containers)
        .flat_map(|c| c.ports.iter().flatten());
    for p in container_ports {
        let tcp = p.protocol.as_deref().unwrap_or("TCP") == "TCP";
        if let (true, Some(name), Ok(port)) = (tcp, &p.name, u16::try_from(p.container_port)) {
            // Names are unique within a pod; the first wins over a malformed repeat.
            ports.entry(name.clone()).or_insert(port);
        }
    }
    Some(Workload {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        address,
        network: labels.get(NETWORK_LABEL).cloned(),
        locality: labels.get(LOCALITY_LABEL).map(|l| l.replace('.', "/")),
        labels,
        service_account,
        ports,
        services: Vec::new(),
        policies: WorkloadPolicies::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::MeshObject;
    use crate::test_support::object;

    fn workload_of(yaml: &str) -> Option<Workload> {
        let (r, o) = object(yaml);
        let MeshObject::Pod(pod) = o.as_ref() else {
            panic!("{o:?}")
        };
        pod_workload(&r, pod)
    }

    #[test]
    fn a_running_pod_is_a_workload_with_its_named_tcp_ports() {
        let w = workload_of(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: shop, labels: {app: web, istio-locality: eu.eu-1a}}\n\
             spec:\n  containers:\n  - {name: app, ports: [{name: http, containerPort: 8080}, {containerPort: 9000}, {name: dns, containerPort: 53, protocol: UDP}]}\n\
             status: {phase: Running, podIP: 10.1.0.1}\n",
        )
        .expect("a workload");
        assert_eq!(w.address, "10.1.0.1");
        assert_eq!(w.service_account, "default");
        assert_eq!(w.ports, BTreeMap::from([("http".to_string(), 8080)]));
        assert_eq!(w.locality.as_deref(), Some("eu/eu-1a"));
    }

    #[test]
    fn pods_without_an_ip_or_finished_are_not_workloads() {
        let pod = |status: &str| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: a}}\n\
                 spec: {{serviceAccountName: api, containers: [{{name: app}}]}}\nstatus: {status}\n"
            )
        };
        assert!(workload_of(&pod("{phase: Pending}")).is_none());
        assert!(workload_of(&pod("{phase: Succeeded, podIP: 10.0.0.1}")).is_none());
        assert!(workload_of(&pod("{phase: Failed, podIP: 10.0.0.1}")).is_none());
        let running = workload_of(&pod("{phase: Running, podIP: 10.0.0.1}"));
        assert_eq!(running.map(|w| w.service_account).as_deref(), Some("api"));
    }
}
