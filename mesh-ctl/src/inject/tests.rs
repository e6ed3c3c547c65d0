//! `meshctl inject` over manifests: the webhook's pod for a Pod, templates of every
//! workload kind, other documents untouched, errors that say where.

use k8s_openapi::api::core::v1::Pod;
use mesh_api::inject::{InjectionConfig, KubernetesVersion, inject, workload_name};
use serde_json::Value;

use super::inject_manifests;

const APP_POD: &str = include_str!("../../../mesh-api/src/inject/testdata/app.in.yaml");

const WORKLOADS: &str = "# the app
apiVersion: v1
kind: Service
metadata:
  name: reviews   # a comment kept as written
spec:
  selector: {app: reviews}
  ports: [{port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews, namespace: shop}
spec:
  selector: {matchLabels: {app: reviews}}
  template:
    metadata: {labels: {app: reviews}}
    spec:
      containers: [{name: reviews, image: example.com/reviews:1}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: backup}
spec:
  schedule: '0 * * * *'
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: backup, image: example.com/backup:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    metadata:
      labels: {sidecar.istio.io/inject: 'false'}
    spec:
      containers: [{name: agent, image: example.com/agent:1}]
";

fn documents(text: &str) -> Vec<Value> {
    text.split("---\n")
        .map(|d| serde_norway::from_str(d).expect("a document"))
        .collect()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|c| c["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn a_pod_gets_what_the_webhook_gives_it() {
    let config = InjectionConfig::default();
    let out = inject_manifests("pod.yaml", APP_POD, &config, None).expect("injects");
    let got: Pod = serde_norway::from_str(&out).expect("a pod");
    let pod: Pod = serde_norway::from_str(APP_POD).expect("a pod");
    // mesh-control's webhook tests check that its patch gives this same pod.
    let want = inject(&pod, &workload_name(&pod), &config, None).expect("injects");
    assert_eq!(got, want);
}

#[test]
fn pod_templates_are_injected_and_other_documents_kept_as_written() {
    let out = inject_manifests("app.yaml", WORKLOADS, &InjectionConfig::default(), None)
        .expect("injects");
    let docs: Vec<&str> = out.split("---\n").collect();
    assert_eq!(docs.len(), 4);
    assert!(
        docs[0].contains("# a comment kept as written"),
        "{}",
        docs[0]
    );
    let parsed = documents(&out);
    let deployment = &parsed[1]["spec"]["template"];
    assert_eq!(
        names(&deployment["spec"]["initContainers"]),
        ["mesh-redirect", "mesh-proxy"]
    );
    assert_eq!(
        deployment["metadata"]["labels"]["service.istio.io/canonical-name"],
        "reviews"
    );
    let cron = &parsed[2]["spec"]["jobTemplate"]["spec"]["template"];
    assert_eq!(
        names(&cron["spec"]["initContainers"]),
        ["mesh-redirect", "mesh-proxy"]
    );
    assert_eq!(
        cron["metadata"]["labels"]["service.istio.io/canonical-name"],
        "backup"
    );
    assert_eq!(
        docs[3],
        WORKLOADS.split("---\n").nth(3).expect("4 docs"),
        "opted out"
    );
}

#[test]
fn an_old_cluster_gets_the_classic_sidecar() {
    let old = KubernetesVersion {
        major: 1,
        minor: 28,
    };
    let out = inject_manifests(
        "app.yaml",
        WORKLOADS,
        &InjectionConfig::default(),
        Some(old),
    )
    .expect("injects");
    let parsed = documents(&out);
    let spec = &parsed[1]["spec"]["template"]["spec"];
    assert_eq!(names(&spec["initContainers"]), ["mesh-redirect"]);
    assert_eq!(names(&spec["containers"]), ["reviews", "mesh-proxy"]);
}

#[test]
fn errors_name_the_file_document_object_and_field() {
    let bad = WORKLOADS.replace(
        "metadata: {labels: {app: reviews}}",
        "metadata: {labels: {app: reviews}, annotations: {traffic.sidecar.istio.io/excludeInboundPorts: web}}",
    );
    let e = inject_manifests("app.yaml", &bad, &InjectionConfig::default(), None)
        .expect_err("bad annotation");
    let e = e.to_string();
    assert!(
        e.contains("app.yaml: document 2 (Deployment shop/reviews): spec.template: annotation traffic.sidecar.istio.io/excludeInboundPorts"),
        "{e}"
    );
    let bad_containers =
        "kind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: {}}}}\n";
    let e = inject_manifests("x.yaml", bad_containers, &InjectionConfig::default(), None)
        .expect_err("containers is a list");
    let e = e.to_string();
    assert!(
        e.contains(
            "x.yaml: document 1 (Deployment default/x): spec.template.spec.containers: invalid type"
        ),
        "{e}"
    );
}

/// The webhook's answer for `pod`, applied to it.
fn webhook_pod(pod: &Value, config: &InjectionConfig) -> Pod {
    use kube::core::DynamicObject;
    use kube::core::admission::{AdmissionRequest, AdmissionReview};
    let review: AdmissionReview<DynamicObject> = serde_json::from_value(serde_json::json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": pod["metadata"]["namespace"].as_str().unwrap_or("default"),
            "operation": "CREATE",
            "userInfo": {},
            "object": pod,
        }
    }))
    .expect("a review");
    let request: AdmissionRequest<DynamicObject> = review.try_into().expect("a request");
    let enabled = [("mesh.dev/inject".to_string(), "enabled".to_string())].into();
    let response = mesh_control::webhook::inject::review(&request, &enabled, config, None);
    let patch: json_patch::Patch =
        serde_json::from_slice(&response.patch.expect("a patch")).expect("a JSONPatch");
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).expect("applies");
    serde_json::from_value(patched).expect("a pod")
}

#[test]
fn meshctl_and_the_webhook_give_the_same_pod() {
    let config = InjectionConfig::default();
    for name in ["app", "traffic", "job", "hold", "no-interception"] {
        let path = format!(
            "{}/../mesh-api/src/inject/testdata/{name}.in.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(path).expect("test pod");
        let out = inject_manifests("pod.yaml", &text, &config, None).expect("injects");
        let meshctl: Pod = serde_norway::from_str(&out).expect("a pod");
        let pod: Value = serde_norway::from_str(&text).expect("yaml");
        assert_eq!(meshctl, webhook_pod(&pod, &config), "{name}");
    }
}

#[test]
fn lists_config_files_and_output_files() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let list = dir.path().join("list.yaml");
    std::fs::write(
        &list,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: a, image: x}]}\n",
    )
    .expect("write");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "proxyImage: registry.local/proxy:1\nnativeSidecar: false\n",
    )
    .expect("write");
    let output = dir.path().join("out.yaml");
    let args = super::InjectArgs {
        file: list,
        output: Some(output.clone()),
        injection_config: Some(config.clone()),
        kubernetes_version: None,
    };
    super::run(&args).expect("runs");
    let out: Value =
        serde_norway::from_str(&std::fs::read_to_string(&output).expect("output")).expect("yaml");
    let pod = &out["items"][0]["spec"];
    assert_eq!(
        names(&pod["containers"]),
        ["a", "mesh-proxy"],
        "classic, from the config"
    );
    assert_eq!(pod["containers"][1]["image"], "registry.local/proxy:1");
    std::fs::write(&config, "proxyImage: x\nnativeSidecars: false\n").expect("write");
    let e = super::run(&args).expect_err("a typo in the config");
    assert!(e.to_string().contains("nativeSidecars"), "{e}");
}
