//! Service endpoints from Kubernetes objects: a Service, its EndpointSlices and the
//! Pods behind them, built at once and changed one object at a time.

use std::collections::BTreeMap;

use crate::model::{Endpoint, MeshModel, MeshSettings, ObjectChange};
use crate::object::{Kind, ObjectRef};
use crate::test_support::{model_of, object};

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
spec:\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, targetPort: http}\n  - {name: grpc, port: 90, targetPort: 9000}\n";

const SLICE: &str = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
metadata: {name: web-x1, namespace: shop, labels: {kubernetes.io/service-name: web}}\n\
addressType: IPv4\nports: [{name: http, port: 8080}, {name: grpc, port: 9000}]\nendpoints:\n\
- {addresses: [10.1.0.1], targetRef: {kind: Pod, name: web-0, namespace: shop}}\n\
- {addresses: [10.1.0.2], conditions: {ready: true}, targetRef: {kind: Pod, name: web-1, namespace: shop}}\n\
- {addresses: [10.1.0.3], conditions: {ready: false}, targetRef: {kind: Pod, name: web-2, namespace: shop}}\n\
- {addresses: [10.1.0.4], conditions: {ready: true, terminating: true}}\n\
- {addresses: [10.1.0.5]}\n";

fn pod(name: &str, ip: &str, account: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, \
         labels: {{app: web, security.istio.io/tlsMode: istio}}}}\n\
         spec: {{serviceAccountName: {account}, containers: [{{name: app, ports: [{{name: http, containerPort: 8080}}]}}]}}\n\
         status: {{phase: Running, podIP: {ip}}}\n"
    )
}

fn endpoints(model: &MeshModel) -> &[Endpoint] {
    &model.services["web.shop.svc.cluster.local"].endpoints
}

fn pod_ref(name: &str) -> ObjectRef {
    ObjectRef {
        kind: Kind::Pod,
        namespace: "shop".to_string(),
        name: name.to_string(),
    }
}

#[test]
fn slice_endpoints_are_the_ready_ones_enriched_from_their_pods() {
    let (web0, web1, other) = (
        pod("web-0", "10.1.0.1", "web"),
        pod("web-1", "10.1.0.2", "web-canary"),
        pod("odd", "10.1.0.5", "odd"),
    );
    let model = model_of(&[
        ("svc.yaml", SERVICE),
        ("slice.yaml", SLICE),
        ("pods.yaml", &[web0, web1, other].join("---\n")),
    ]);
    let endpoints = endpoints(&model);
    let addresses: Vec<&str> = endpoints.iter().map(|e| e.address.as_str()).collect();
    // Not ready (10.1.0.3) and terminating (10.1.0.4) are left out; unset is ready.
    assert_eq!(addresses, ["10.1.0.1", "10.1.0.2", "10.1.0.5"]);
    let first = &endpoints[0];
    assert_eq!(first.workload, Some(pod_ref("web-0")));
    assert_eq!(first.service_account.as_deref(), Some("web"));
    assert_eq!(
        first
            .labels
            .get("security.istio.io/tlsMode")
            .map(String::as_str),
        Some("istio")
    );
    // Service ports map to the slice ports of the same name.
    assert_eq!(first.ports, BTreeMap::from([(80, 8080), (90, 9000)]));
    assert_eq!(endpoints[1].service_account.as_deref(), Some("web-canary"));
    // No targetRef: the pod with the address.
    assert_eq!(endpoints[2].workload, Some(pod_ref("odd")));
    // The pods are workloads of the service (pods are not selected: only the slice
    // makes them endpoints).
    assert_eq!(
        model.workloads[&pod_ref("web-0")].services,
        ["web.shop.svc.cluster.local"]
    );
}

#[test]
fn pods_are_not_selected_by_service_selectors() {
    let model = model_of(&[
        ("svc.yaml", SERVICE),
        ("pods.yaml", &pod("web-0", "10.1.0.1", "web")),
    ]);
    assert!(endpoints(&model).is_empty());
    assert!(model.workloads.contains_key(&pod_ref("web-0")));
}

#[test]
fn a_pod_arriving_after_its_slice_gives_the_endpoint_its_identity() {
    let model = model_of(&[("svc.yaml", SERVICE), ("slice.yaml", SLICE)]);
    let before = endpoints(&model)[0].clone();
    assert_eq!(before.workload, None, "no pod yet: no identity");
    assert_eq!(before.service_account, None);
    assert!(before.labels.is_empty());
    let (r, web0) = object(&pod("web-0", "10.1.0.1", "web"));
    let (updated, delta) = model.update(&[ObjectChange {
        object_ref: r.clone(),
        object: Some(web0),
    }]);
    assert!(!delta.full);
    assert_eq!(
        delta.endpoints,
        ["web.shop.svc.cluster.local".to_string()].into()
    );
    assert!(delta.workloads.contains(&r));
    let after = &endpoints(&updated)[0];
    assert_eq!(after.workload, Some(r.clone()));
    assert_eq!(after.service_account.as_deref(), Some("web"));
    assert!(
        updated == MeshModel::build(updated.objects.values().cloned(), MeshSettings::default())
    );
}

#[test]
fn deleting_a_slice_removes_its_endpoints_and_only_those_services_change() {
    let model = model_of(&[
        ("svc.yaml", SERVICE),
        ("slice.yaml", SLICE),
        ("pods.yaml", &pod("web-0", "10.1.0.1", "web")),
    ]);
    let slice = ObjectRef {
        kind: Kind::EndpointSlice,
        namespace: "shop".to_string(),
        name: "web-x1".to_string(),
    };
    let (updated, delta) = model.update(&[ObjectChange {
        object_ref: slice,
        object: None,
    }]);
    assert!(!delta.full);
    assert!(endpoints(&updated).is_empty());
    assert_eq!(delta.endpoints.len(), 1);
    assert!(
        updated.workloads[&pod_ref("web-0")].services.is_empty(),
        "the pod is no endpoint of web any more"
    );
    assert!(delta.workloads.contains(&pod_ref("web-0")));
}

#[test]
fn unnamed_single_ports_and_fqdn_slices() {
    let service = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
        spec: {ports: [{port: 80, targetPort: 8080}]}\n";
    let slices = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
        metadata: {name: web-a, namespace: shop, labels: {kubernetes.io/service-name: web}}\n\
        addressType: IPv4\nports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.9]}]\n---\n\
        apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
        metadata: {name: web-b, namespace: shop, labels: {kubernetes.io/service-name: web}}\n\
        addressType: FQDN\nports: [{port: 8080}]\nendpoints: [{addresses: [web.example.com]}]\n---\n\
        apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
        metadata: {name: other, namespace: shop, labels: {kubernetes.io/service-name: other}}\n\
        addressType: IPv4\nports: [{port: 8080}]\nendpoints: [{addresses: [10.1.0.10]}]\n";
    let model = model_of(&[("svc.yaml", service), ("slices.yaml", slices)]);
    let endpoints = endpoints(&model);
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    assert_eq!(endpoints[0].address, "10.1.0.9");
    assert_eq!(endpoints[0].ports, BTreeMap::from([(80, 8080)]));
}

#[test]
fn an_address_in_two_slices_is_one_endpoint() {
    let second = SLICE.replace("web-x1", "web-x2");
    let model = model_of(&[
        ("svc.yaml", SERVICE),
        ("slices.yaml", &[SLICE, &second].join("---\n")),
    ]);
    assert_eq!(endpoints(&model).len(), 3);
}

#[test]
fn service_entry_workload_selectors_select_pods_as_istio_does() {
    let entry = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
        metadata: {name: web-vip, namespace: shop}\n\
        spec: {hosts: [web.internal], location: MESH_INTERNAL, resolution: STATIC,\n  \
        ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}], workloadSelector: {labels: {app: web}}}\n";
    let model = model_of(&[
        ("se.yaml", entry),
        ("pods.yaml", &pod("web-0", "10.1.0.1", "web")),
    ]);
    let endpoints = &model.services["web.internal"].endpoints;
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].workload, Some(pod_ref("web-0")));
    assert_eq!(endpoints[0].service_account.as_deref(), Some("web"));
    // The pod leaving takes its endpoint with it, in place.
    let (updated, delta) = model.update(&[ObjectChange {
        object_ref: pod_ref("web-0"),
        object: None,
    }]);
    assert!(!delta.full);
    assert!(updated.services["web.internal"].endpoints.is_empty());
    assert_eq!(delta.endpoints, ["web.internal".to_string()].into());
}
