//! The kind run's pure parts, and the workflow that runs it checked for structure
//! (actionlint cannot be installed from the registries reachable here).

use serde_json::{Value, json};

use super::charts::{CHARTS, all_filled, helm_install_args};
use super::node_image::{self, KIND_VERSION};
use super::sample_app::{SAMPLE_NAMESPACE, pods_without_sidecar, sample_manifest};
use super::*;

const WORKFLOW: &str = ".github/workflows/e2e-kind.yml";

fn workflow() -> Value {
    let ws = Workspace::locate();
    let text = std::fs::read_to_string(ws.root().join(WORKFLOW)).expect("the workflow");
    serde_norway::from_str(&text).expect("the workflow is YAML")
}

fn steps(workflow: &Value) -> Vec<Value> {
    workflow["jobs"]
        .as_object()
        .into_iter()
        .flat_map(|jobs| jobs.values())
        .flat_map(|job| job["steps"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn the_workflow_runs_on_pushes_and_pull_requests_with_bounded_jobs() {
    let workflow = workflow();
    let on = &workflow["on"];
    assert!(
        on.get("push").is_some() && on.get("pull_request").is_some(),
        "{on}"
    );
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert!(!jobs.is_empty());
    for (name, job) in jobs {
        assert!(job["runs-on"].is_string(), "{name}: runs-on");
        assert!(
            job["timeout-minutes"].as_u64().is_some_and(|m| m <= 90),
            "{name}: timeout-minutes"
        );
        assert!(
            job["steps"].as_array().is_some_and(|s| !s.is_empty()),
            "{name}: steps"
        );
    }
}

#[test]
fn every_step_either_uses_a_pinned_action_or_runs_a_script() {
    for step in steps(&workflow()) {
        let uses = step.get("uses").and_then(Value::as_str);
        let run = step.get("run").and_then(Value::as_str);
        assert!(uses.is_some() != run.is_some(), "one of uses/run: {step}");
        if let Some(uses) = uses {
            let (action, reference) = uses.split_once('@').unwrap_or((uses, ""));
            assert!(
                action.contains('/') && !reference.is_empty(),
                "owner/repo@ref: {uses}"
            );
        }
        assert!(
            step["name"].is_string(),
            "every step is named in the log: {step}"
        );
    }
}

#[test]
fn the_matrix_has_two_kubernetes_versions_with_pinned_node_images() {
    let workflow = workflow();
    let job = &workflow["jobs"]["kind"];
    let versions: Vec<&str> = job["strategy"]["matrix"]["k8s"]
        .as_array()
        .expect("matrix.k8s")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(versions.len() >= 2, "two Kubernetes versions: {versions:?}");
    for version in &versions {
        assert!(
            node_image::node_image(version).is_ok(),
            "no node image for {version}"
        );
    }
    assert_eq!(
        job["strategy"]["fail-fast"], false,
        "one version's failure keeps the other's result"
    );
    assert_eq!(
        job["env"]["KIND_VERSION"], KIND_VERSION,
        "the kind the node images are pinned for"
    );
}

#[test]
fn the_workflow_runs_the_xtask_with_the_matrix_version_and_uploads_logs_on_failure() {
    let workflow = workflow();
    let steps = steps(&workflow);
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let e2e = "cargo xtask e2e kind --kubernetes-version ${{ matrix.k8s }} --skip-images";
    assert!(runs.iter().any(|r| r.trim() == e2e), "{runs:?}");
    // The images are built once, by the job the kind jobs need, and loaded there.
    assert_eq!(workflow["jobs"]["kind"]["needs"], "images");
    let images: Vec<&str> = workflow["jobs"]["images"]["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["run"].as_str())
        .collect();
    assert!(
        images
            .iter()
            .any(|r| r.trim() == "cargo xtask images --fast"),
        "{images:?}"
    );
    assert!(
        runs.iter()
            .any(|r| r.contains("docker load -i mesh-images.tar")),
        "{runs:?}"
    );
    let kind_steps = workflow["jobs"]["kind"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let upload = kind_steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .expect("an upload step");
    assert_eq!(upload["if"], "failure()");
    let ws = Workspace::locate();
    let logs = ws.scratch_dir().join("kind").join("logs");
    let relative = logs.strip_prefix(ws.root()).expect("under the workspace");
    assert_eq!(
        upload["with"]["path"]
            .as_str()
            .map(|p| p.trim_end_matches('/')),
        relative.to_str(),
        "the directory the xtask writes its logs to"
    );
    let toolchain = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("dtolnay/rust-toolchain@"))
        })
        .map(|s| s["with"]["toolchain"].clone());
    assert_eq!(toolchain, Some(json!(env!("CARGO_PKG_RUST_VERSION"))));
}

#[test]
fn expressions_name_only_known_contexts_and_matrix_keys() {
    let ws = Workspace::locate();
    let text = std::fs::read_to_string(ws.root().join(WORKFLOW)).expect("the workflow");
    let matrix_keys: Vec<String> = workflow()["jobs"]["kind"]["strategy"]["matrix"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut rest = text.as_str();
    let mut seen = 0;
    while let Some(start) = rest.find("${{") {
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expression = rest[start + 3..end].trim();
        let context = expression.split(['.', '(', ' ']).next().unwrap_or_default();
        assert!(
            [
                "github", "matrix", "env", "runner", "steps", "secrets", "inputs"
            ]
            .contains(&context),
            "unknown context in ${{{{ {expression} }}}}"
        );
        if let Some(key) = expression.strip_prefix("matrix.") {
            assert!(matrix_keys.iter().any(|k| k == key), "matrix has no {key}");
        }
        seen += 1;
        rest = &rest[end + 2..];
    }
    assert!(
        seen >= 3,
        "the workflow uses the matrix in its names, run and artifact"
    );
}

#[test]
fn charts_are_installed_in_the_seeds_order_with_the_loaded_images() {
    let ws = Workspace::locate();
    let order: Vec<(&str, &str)> = CHARTS.iter().map(|c| (c.release, c.namespace)).collect();
    assert_eq!(
        order,
        [
            ("mesh-base", "mesh-system"),
            ("mesh-control", "mesh-system"),
            ("mesh-ingress", "mesh-ingress")
        ]
    );
    let control = helm_install_args(&ws, &CHARTS[1], "ghcr.io/mesh-dev", "0.1.0");
    assert_eq!(&control[..2], ["install", "mesh-control"]);
    assert!(control[2].ends_with("charts/mesh-control"), "{control:?}");
    for expected in [
        "global.hub=ghcr.io/mesh-dev",
        "global.tag=0.1.0",
        "--wait",
        "--create-namespace",
    ] {
        assert!(
            control.iter().any(|a| a == expected),
            "{expected} in {control:?}"
        );
    }
    let gateway = helm_install_args(&ws, &CHARTS[2], "h", "t");
    assert!(
        !gateway.iter().any(|a| a == "--wait"),
        "no LoadBalancer address on kind: {gateway:?}"
    );
    for chart in &CHARTS {
        let values = ws
            .root()
            .join("e2e/kind/values")
            .join(format!("{}.yaml", chart.chart));
        let text =
            std::fs::read_to_string(&values).unwrap_or_else(|_| panic!("{}", values.display()));
        serde_norway::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", values.display()));
    }
}

#[test]
fn the_sample_app_runs_the_loaded_image_in_an_injected_namespace() {
    let ws = Workspace::locate();
    let template =
        std::fs::read_to_string(ws.root().join("e2e/kind/sample-app.yaml")).expect("sample app");
    let image = "ghcr.io/mesh-dev/mesh-sample-app:0.1.0";
    let manifest = sample_manifest(&template, image);
    assert!(!manifest.contains("${"), "every placeholder is filled");
    let documents: Vec<Value> = serde_norway::Deserializer::from_str(&manifest)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).expect("YAML"))
        .collect();
    let namespace = documents
        .iter()
        .find(|d| d["kind"] == "Namespace")
        .expect("a namespace");
    assert_eq!(namespace["metadata"]["name"], SAMPLE_NAMESPACE);
    assert_eq!(
        namespace["metadata"]["labels"]["mesh.dev/inject"],
        "enabled"
    );
    let deployments: Vec<&Value> = documents
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .collect();
    assert!(
        deployments
            .iter()
            .any(|d| d["metadata"]["name"] == "client"),
        "kubectl exec deploy/client"
    );
    for deployment in deployments {
        assert_eq!(deployment["metadata"]["namespace"], SAMPLE_NAMESPACE);
        let app = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            (app["name"].as_str(), app["image"].as_str()),
            (Some("app"), Some(image))
        );
    }
}

#[test]
fn pods_without_the_proxy_container_are_named() {
    let list = json!({"items": [
        {"metadata": {"name": "native"}, "spec": {"initContainers": [{"name": "mesh-proxy"}], "containers": [{"name": "app"}]}},
        {"metadata": {"name": "classic"}, "spec": {"containers": [{"name": "app"}, {"name": "mesh-proxy"}]}},
        {"metadata": {"name": "bare"}, "spec": {"containers": [{"name": "app"}]}},
    ]});
    assert_eq!(pods_without_sidecar(&list), ["bare"]);
}

#[test]
fn a_webhook_without_its_ca_bundle_is_not_ready() {
    assert!(all_filled("LS0tLS1CRUdJTg==\nLS0tLS1CRUdJTg==\n"));
    assert!(
        !all_filled("LS0tLS1CRUdJTg==\n\n"),
        "the second webhook has none"
    );
    assert!(!all_filled(""), "the configuration is not there yet");
}
