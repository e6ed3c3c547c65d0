use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::ca::kube::mock::{self, Exchange};

const BUNDLE: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const CONFIGMAPS: &str = "/api/v1/namespaces/shop/configmaps";

fn config_map(data: Value, labels: Value, resource_version: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": ROOT_CERT_CONFIGMAP,
            "namespace": "shop",
            "resourceVersion": resource_version,
            "labels": labels,
            "annotations": { "note": "kept" },
        },
        "data": data,
    })
}

fn ours() -> Value {
    json!({ "app.kubernetes.io/managed-by": "mesh-control" })
}

fn get() -> Exchange {
    Exchange::get(&format!("{CONFIGMAPS}/{ROOT_CERT_CONFIGMAP}"))
}

fn replace(resource_version: &str) -> Exchange {
    Exchange::put(
        &format!("{CONFIGMAPS}/{ROOT_CERT_CONFIGMAP}?"),
        json!({
            "metadata": {
                "resourceVersion": resource_version,
                "labels": ours(),
                "annotations": { "note": "kept" },
            },
            "data": { ROOT_CERT_KEY: BUNDLE },
        }),
    )
}

async fn reconcile_with(script: Vec<Exchange>) -> Result<Reconciled, kube::Error> {
    let (client, server) = mock::client();
    let served = server.run(script);
    let done = reconcile(&client, "shop", BUNDLE).await;
    tokio::time::timeout(Duration::from_secs(1), served)
        .await
        .unwrap()
        .unwrap();
    done
}

#[tokio::test]
async fn a_missing_configmap_is_created_with_the_bundle_and_our_label() {
    let done = reconcile_with(vec![
        get().not_found("configmaps", ROOT_CERT_CONFIGMAP),
        Exchange::post(
            &format!("{CONFIGMAPS}?"),
            json!({
                "metadata": { "name": ROOT_CERT_CONFIGMAP, "namespace": "shop", "labels": ours() },
                "data": { ROOT_CERT_KEY: BUNDLE },
            }),
        )
        .echo(201, json!({ "metadata": { "resourceVersion": "12" } })),
    ])
    .await;
    assert_eq!(done.unwrap(), Reconciled::Created);
}

#[tokio::test]
async fn an_edited_configmap_is_corrected_with_its_resource_version() {
    let edited = config_map(
        json!({ ROOT_CERT_KEY: "tampered" }),
        json!({ "team": "shop" }),
        "40",
    );
    let done = reconcile_with(vec![
        get().reply(200, edited),
        replace("40").echo(200, json!({ "metadata": { "resourceVersion": "41" } })),
    ])
    .await;
    assert_eq!(done.unwrap(), Reconciled::Updated);
}

#[tokio::test]
async fn a_current_configmap_is_left_alone() {
    let current = config_map(json!({ ROOT_CERT_KEY: BUNDLE }), ours(), "40");
    let done = reconcile_with(vec![get().reply(200, current)]).await;
    assert_eq!(done.unwrap(), Reconciled::Unchanged);
}

#[tokio::test]
async fn a_conflict_is_read_again_and_retried() {
    let stale = config_map(json!({ ROOT_CERT_KEY: "old" }), ours(), "40");
    let newer = config_map(json!({ ROOT_CERT_KEY: "older still" }), ours(), "42");
    let done = reconcile_with(vec![
        get().reply(200, stale),
        replace("40").conflict("configmaps", ROOT_CERT_CONFIGMAP),
        get().reply(200, newer),
        replace("42").echo(200, json!({ "metadata": { "resourceVersion": "43" } })),
    ])
    .await;
    assert_eq!(done.unwrap(), Reconciled::Updated);
    // A create that meets one created meanwhile reads it again too.
    let done = reconcile_with(vec![
        get().not_found("configmaps", ROOT_CERT_CONFIGMAP),
        Exchange::post(&format!("{CONFIGMAPS}?"), json!({}))
            .already_exists("configmaps", ROOT_CERT_CONFIGMAP),
        get().reply(
            200,
            config_map(json!({ ROOT_CERT_KEY: BUNDLE }), ours(), "50"),
        ),
    ])
    .await;
    assert_eq!(done.unwrap(), Reconciled::Unchanged);
}

fn namespace(name: &str, terminating: bool) -> Namespace {
    serde_json::from_value(json!({
        "metadata": { "name": name },
        "status": { "phase": if terminating { "Terminating" } else { "Active" } },
    }))
    .unwrap()
}

#[test]
fn namespaces_in_scope_are_published_and_terminating_ones_skipped() {
    let mut state = PublishState::new(NamespaceScope::Only(["shop".into(), "bank".into()].into()));
    state.namespace_applied(&namespace("shop", false));
    state.namespace_applied(&namespace("bank", true));
    state.namespace_applied(&namespace("kube-system", false));
    assert_eq!(state.take_pending(), ["shop".to_string()].into());
    // Seen again unchanged: nothing to do.
    state.namespace_applied(&namespace("shop", false));
    assert!(!state.has_pending());
}

#[test]
fn a_deleted_or_edited_configmap_is_rewritten_and_a_new_bundle_goes_everywhere() {
    let mut state = PublishState::new(NamespaceScope::All);
    state.namespace_applied(&namespace("shop", false));
    state.namespace_applied(&namespace("bank", false));
    state.take_pending();
    let current: ConfigMap =
        serde_json::from_value(config_map(json!({ ROOT_CERT_KEY: BUNDLE }), ours(), "1")).unwrap();
    state.config_map_changed("shop", Some(&current), BUNDLE);
    assert!(!state.has_pending());
    state.config_map_changed("shop", None, BUNDLE);
    let edited: ConfigMap =
        serde_json::from_value(config_map(json!({ ROOT_CERT_KEY: "x" }), ours(), "2")).unwrap();
    state.config_map_changed("bank", Some(&edited), BUNDLE);
    assert_eq!(state.take_pending().len(), 2);
    // Outside the published namespaces: not ours to write.
    state.config_map_changed("gone", None, BUNDLE);
    assert!(!state.has_pending());
    state.bundle_changed();
    assert_eq!(
        state.take_pending(),
        ["bank".to_string(), "shop".to_string()].into()
    );
}

#[tokio::test]
async fn a_namespace_being_deleted_is_left_alone() {
    // What the NamespaceLifecycle admission answers a create in a terminating namespace.
    let terminating = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "configmaps \"mesh-ca-root-cert\" is forbidden: unable to create new content in namespace shop because it is being terminated",
        "reason": "Forbidden",
        "details": {
            "name": ROOT_CERT_CONFIGMAP, "kind": "configmaps",
            "causes": [{ "reason": "NamespaceTerminating", "message": "namespace shop is being terminated", "field": "metadata.namespace" }],
        },
        "code": 403,
    });
    let done = reconcile_with(vec![
        get().not_found("configmaps", ROOT_CERT_CONFIGMAP),
        Exchange::post(&format!("{CONFIGMAPS}?"), json!({})).reply(403, terminating),
    ])
    .await;
    assert_eq!(done.unwrap(), Reconciled::NamespaceGone);
}
