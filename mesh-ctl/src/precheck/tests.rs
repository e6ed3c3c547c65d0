use serde_json::{Value, json};

use super::checks::{self, Outcome, judge_mesh_namespace, judge_version};
use super::*;
use crate::fake_api::{self, Seen, list, not_found};

pub(crate) fn version(minor: &str) -> Value {
    json!({
        "major": "1", "minor": minor, "gitVersion": format!("v1.{minor}.2"),
        "gitCommit": "0123abc", "gitTreeState": "clean", "buildDate": "2026-05-01T00:00:00Z",
        "goVersion": "go1.25.9", "compiler": "gc", "platform": "linux/amd64",
    })
}

fn crd(name: &str, group: &str, release: Option<&str>) -> Value {
    let mut annotations = serde_json::Map::new();
    if let Some(r) = release {
        annotations.insert("meta.helm.sh/release-name".into(), json!(r));
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": name, "resourceVersion": "12", "annotations": annotations},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"plural": name.split('.').next().unwrap(), "kind": "X"},
                 "versions": [{"name": "v1", "served": true, "storage": true}]},
    })
}

fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "resourceVersion": "7", "labels": labels},
           "status": {"phase": "Active"}})
}

/// A cluster on 1.33 where the user may not create webhook configurations, Istio's
/// CRDs exist (not from mesh-base) and istiod runs; `shop` is labelled.
fn answer(seen: &Seen) -> (u16, Value) {
    let path = seen.uri.split('?').next().unwrap_or_default();
    match (seen.method.as_str(), path) {
        ("GET", "/version") => (200, version("33")),
        ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
            let resource = seen.body["spec"]["resourceAttributes"]["resource"].as_str();
            let allowed = !resource.is_some_and(|r| r.ends_with("webhookconfigurations"));
            let mut review = seen.body.clone();
            review["status"] = json!({"allowed": allowed});
            (201, review)
        }
        ("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions") => (
            200,
            list(
                "CustomResourceDefinition",
                "apiextensions.k8s.io/v1",
                vec![
                    crd(
                        "virtualservices.networking.istio.io",
                        "networking.istio.io",
                        None,
                    ),
                    crd(
                        "virtualservices.networking.mesh.dev",
                        "networking.mesh.dev",
                        Some("mesh-base"),
                    ),
                ],
            ),
        ),
        ("GET", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations") => (
            200,
            list(
                "MutatingWebhookConfiguration",
                "admissionregistration.k8s.io/v1",
                vec![json!({
                "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "istio-sidecar-injector", "resourceVersion": "3"}})],
            ),
        ),
        ("GET", "/apis/apps/v1/deployments") => {
            assert!(
                seen.uri.contains("labelSelector=app%3Distiod"),
                "{}",
                seen.uri
            );
            (
                200,
                list(
                    "Deployment",
                    "apps/v1",
                    vec![json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "istiod", "namespace": "istio-system", "resourceVersion": "9"}})],
                ),
            )
        }
        ("GET", "/api/v1/namespaces") => (
            200,
            list(
                "Namespace",
                "v1",
                vec![
                    namespace("default", json!({})),
                    namespace("shop", json!({"istio-injection": "enabled"})),
                ],
            ),
        ),
        ("GET", "/api/v1/namespaces/mesh-system") => not_found("namespaces \"mesh-system\""),
        other => panic!("unexpected request {other:?}"),
    }
}

#[tokio::test]
async fn a_cluster_with_istio_and_missing_rights_blocks_with_fixes() {
    let client = fake_api::client(answer);
    let checks = checks::run_all(&client, "mesh-system").await;
    let outcome = |name: &str| {
        checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
    };
    assert_eq!(outcome("Kubernetes version").outcome, Outcome::Pass);
    let permissions = outcome("Permissions");
    assert_eq!(permissions.outcome, Outcome::Fail);
    assert!(
        permissions
            .detail
            .contains("create mutatingwebhookconfigurations.admissionregistration.k8s.io"),
        "{permissions:?}"
    );
    let crds = outcome("Istio CRDs");
    assert_eq!(crds.outcome, Outcome::Warn);
    assert!(crds.detail.starts_with("1 CRD(s)"), "{crds:?}");
    let istio = outcome("Istio control plane");
    assert_eq!(istio.outcome, Outcome::Warn);
    assert!(istio.detail.contains("deployment istio-system/istiod"));
    assert!(istio.detail.contains("webhook istio-sidecar-injector"));
    assert_eq!(
        outcome("Namespaces labelled for injection").detail,
        "shop (istio-injection=enabled)"
    );
    assert_eq!(outcome("Namespace mesh-system").outcome, Outcome::Pass);

    let text = render(&checks);
    assert!(text.contains("✘ Permissions: you may not:"), "{text}");
    assert!(text.contains("    fix: install needs cluster-admin-like rights"));
    assert!(text.ends_with("✘ install would fail: fix the checks marked ✘ first\n"));
    assert!(blocks(&checks));
}

#[test]
fn versions_outside_the_tested_range() {
    assert_eq!(judge_version("1", "28", "v1.28.9").outcome, Outcome::Fail);
    assert_eq!(judge_version("1", "29", "v1.29.0").outcome, Outcome::Pass);
    assert_eq!(
        judge_version("1", "35+", "v1.35.1-gke").outcome,
        Outcome::Pass
    );
    let newer = judge_version("1", "36", "v1.36.2");
    assert_eq!(newer.outcome, Outcome::Warn);
    assert!(
        newer
            .detail
            .contains("newer than mesh is tested on (1.29–1.35)")
    );
}

#[test]
fn a_terminating_mesh_namespace_blocks() {
    let check = judge_mesh_namespace("Namespace mesh-system", true, Some("Terminating"), false);
    assert_eq!(check.outcome, Outcome::Fail);
    assert!(check.fix.unwrap().contains("then install"));
    let upgrade = judge_mesh_namespace("Namespace mesh-system", true, Some("Active"), true);
    assert!(upgrade.detail.contains("upgrades it"));
}
