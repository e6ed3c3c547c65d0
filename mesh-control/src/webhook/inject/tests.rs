//! The injector's admission answers, from AdmissionReviews as the apiserver sends
//! them; the patch applied to the pod must give `mesh_api::inject`'s pod.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionReview};
use mesh_api::inject::{InjectionConfig, KubernetesVersion, inject, workload_name};
use serde_json::{Value, json};

use super::review;

const V1_33: KubernetesVersion = KubernetesVersion {
    major: 1,
    minor: 33,
};

fn pod_json(name: &str) -> Value {
    let path = format!(
        "{}/../mesh-api/src/inject/testdata/{name}.in.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).expect("test pod");
    serde_norway::from_str(&text).expect("yaml")
}

fn request(pod: &Value, operation: &str) -> AdmissionRequest<DynamicObject> {
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": pod,
            "dryRun": false
        }
    }))
    .expect("an AdmissionReview");
    review.try_into().expect("a request")
}

fn enabled() -> BTreeMap<String, String> {
    BTreeMap::from([("mesh.dev/inject".to_string(), "enabled".to_string())])
}

#[test]
fn the_patch_gives_the_injected_pod() {
    let config = InjectionConfig::default();
    let original = pod_json("app");
    let response = review(
        &request(&original, "CREATE"),
        &enabled(),
        &config,
        Some(V1_33),
    );
    assert!(response.allowed);
    assert_eq!(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    let patch: json_patch::Patch =
        serde_json::from_slice(&response.patch.expect("a patch")).expect("a JSONPatch");
    let mut patched = original.clone();
    json_patch::patch(&mut patched, &patch).expect("applies");
    let patched: Pod = serde_json::from_value(patched).expect("a pod");
    let pod: Pod = serde_json::from_value(original).expect("a pod");
    let want = inject(&pod, &workload_name(&pod), &config, Some(V1_33)).expect("injects");
    assert_eq!(patched, want);
}

#[test]
fn fields_unknown_to_this_build_are_kept() {
    let mut original = pod_json("traffic");
    original["spec"]["futureField"] = json!({"x": 1});
    let response = review(
        &request(&original, "CREATE"),
        &enabled(),
        &InjectionConfig::default(),
        None,
    );
    let patch: json_patch::Patch =
        serde_json::from_slice(&response.patch.expect("a patch")).expect("a JSONPatch");
    let mut patched = original.clone();
    json_patch::patch(&mut patched, &patch).expect("applies");
    assert_eq!(patched["spec"]["futureField"], json!({"x": 1}));
}

#[test]
fn unknown_fields_stay_with_their_container_when_ours_are_inserted_before_it() {
    // Native form: mesh-redirect and mesh-proxy go before the pod's init container.
    let mut original = pod_json("job");
    original["spec"]["initContainers"][0]["futureField"] = json!("fetch's");
    original["spec"]["containers"][0]["futureField"] = json!("backup's");
    let mut labels = enabled();
    labels.insert("istio-injection".into(), "enabled".into());
    let response = review(
        &request(&original, "CREATE"),
        &labels,
        &InjectionConfig::default(),
        Some(V1_33),
    );
    let patch: json_patch::Patch =
        serde_json::from_slice(&response.patch.expect("a patch")).expect("a JSONPatch");
    let mut patched = original.clone();
    json_patch::patch(&mut patched, &patch).expect("applies");
    let init = &patched["spec"]["initContainers"];
    let names: Vec<&str> = (0..3)
        .map(|i| init[i]["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["mesh-redirect", "mesh-proxy", "fetch-config"]);
    assert_eq!(init[2]["futureField"], json!("fetch's"));
    assert_eq!(init[0].get("futureField"), None);
    assert_eq!(
        patched["spec"]["containers"][0]["futureField"],
        json!("backup's")
    );
    let pod: Pod = serde_json::from_value(original).expect("a pod");
    let want = inject(
        &pod,
        &workload_name(&pod),
        &InjectionConfig::default(),
        Some(V1_33),
    )
    .expect("injects");
    let got: Pod = serde_json::from_value(patched).expect("a pod");
    assert_eq!(got, want, "the unknown fields aside, the injected pod");
}

#[test]
fn skipped_pods_and_other_operations_are_allowed_unchanged() {
    let config = InjectionConfig::default();
    let pod = pod_json("app");
    let unlabelled = review(&request(&pod, "CREATE"), &BTreeMap::new(), &config, None);
    assert!(unlabelled.allowed && unlabelled.patch.is_none());
    let update = review(&request(&pod, "UPDATE"), &enabled(), &config, None);
    assert!(update.allowed && update.patch.is_none());
    let mut opted_out = pod.clone();
    opted_out["metadata"]["labels"]["sidecar.istio.io/inject"] = json!("false");
    let response = review(&request(&opted_out, "CREATE"), &enabled(), &config, None);
    assert!(response.allowed && response.patch.is_none());
}

#[test]
fn bad_annotations_deny_the_pod_with_the_annotation_named() {
    let mut pod = pod_json("traffic");
    pod["metadata"]["annotations"]["traffic.sidecar.istio.io/includeInboundPorts"] = json!("http");
    let response = review(
        &request(&pod, "CREATE"),
        &enabled(),
        &InjectionConfig::default(),
        None,
    );
    assert!(!response.allowed);
    let message = response.result.message;
    assert!(
        message.contains("traffic.sidecar.istio.io/includeInboundPorts")
            && message.contains("ratings"),
        "{message}"
    );
}
