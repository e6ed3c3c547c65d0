use mesh_api::analysis::{AnalysisOptions, analyze_files};
use serde_json::{Value, json};

use super::*;
use crate::fake_api::{self, Seen, list, not_found};

fn group(name: &str, version: &str) -> Value {
    let gv = format!("{name}/{version}");
    json!({"name": name, "versions": [{"groupVersion": gv, "version": version}],
           "preferredVersion": {"groupVersion": gv, "version": version}})
}

/// A cluster with Istio's networking CRDs (v1) but not ours, where the user may not
/// list Secrets; `shop` has a VirtualService routing to a misspelt host.
fn answer(seen: &Seen) -> (u16, Value) {
    let path = seen.uri.split('?').next().unwrap_or_default();
    match path {
        "/apis" => (
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                group("apps", "v1"),
                group("discovery.k8s.io", "v1"),
                group("admissionregistration.k8s.io", "v1"),
                group("apiextensions.k8s.io", "v1"),
                group("networking.istio.io", "v1"),
            ]}),
        ),
        "/api/v1/namespaces" => (
            200,
            list(
                "Namespace",
                "v1",
                vec![json!({
            "metadata": {"name": "shop", "resourceVersion": "5",
                         "labels": {"istio-injection": "enabled"},
                         "managedFields": [{"manager": "kubectl", "operation": "Update"}]},
            "status": {"phase": "Active"}})],
            ),
        ),
        "/api/v1/services" => (
            200,
            list(
                "Service",
                "v1",
                vec![json!({
            "metadata": {"name": "reviews", "namespace": "shop", "resourceVersion": "6"},
            "spec": {"selector": {"app": "reviews"}, "clusterIP": "10.96.0.20",
                     "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}]}})],
            ),
        ),
        "/apis/networking.istio.io/v1/virtualservices" => (
            200,
            list(
                "VirtualService",
                "networking.istio.io/v1",
                vec![json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "reviews", "namespace": "shop", "resourceVersion": "8", "generation": 1},
                "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reveiws"}}]}]}})],
            ),
        ),
        "/apis/networking.istio.io/v1/proxyconfigs" => {
            not_found("the server could not find the requested resource")
        }
        "/api/v1/secrets" => (
            403,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "secrets is forbidden: User \"dev\" cannot list resource \"secrets\"",
            "reason": "Forbidden", "code": 403}),
        ),
        p if p.starts_with("/api/v1/") || p.starts_with("/apis/") => {
            (200, list("Thing", "v1", vec![]))
        }
        other => panic!("unexpected request {other}"),
    }
}

#[tokio::test]
async fn live_objects_become_named_documents_the_analyzers_read() {
    let client = fake_api::client(answer);
    let live = read(&client).await.unwrap();
    assert_eq!(
        live.missing_groups,
        [
            "networking.mesh.dev",
            "security.mesh.dev",
            "security.istio.io",
            "telemetry.istio.io",
            "extensions.istio.io",
            "gateway.networking.k8s.io",
        ]
    );
    assert_eq!(live.forbidden, ["secrets.v1"]);
    let names: Vec<&str> = live.files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "kubernetes/Namespace/shop",
            "kubernetes/Service/shop/reviews",
            "kubernetes/VirtualService/shop/reviews",
        ]
    );
    let (_, namespace) = &live.files[0];
    assert!(
        namespace.starts_with("apiVersion: v1\nkind: Namespace\n"),
        "{namespace}"
    );
    assert!(!namespace.contains("managedFields"));

    let analysis = analyze_files(&live.files, &AnalysisOptions::default());
    let codes: Vec<(&str, &str)> = analysis
        .messages
        .iter()
        .map(|m| (m.code, m.origin.as_str()))
        .collect();
    assert_eq!(
        codes,
        [("IST0101", "VirtualService shop/reviews")],
        "{:#?}",
        analysis.messages
    );
    assert_eq!(
        analysis.messages[0].field.as_deref(),
        Some("spec.http[0].route[0].destination.host")
    );
}

#[test]
fn cluster_scoped_objects_have_no_namespace_in_their_name() {
    assert_eq!(pseudo_file("Node", None, Some("n1")), "kubernetes/Node/n1");
    assert_eq!(
        pseudo_file("Pod", Some("shop"), Some("web-0")),
        "kubernetes/Pod/shop/web-0"
    );
}
