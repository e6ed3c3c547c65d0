//! The objects the kind suite creates, validated against Kubernetes' own OpenAPI
//! schemas (kubernetes-validate --strict, from `cargo xtask tools`) for the oldest and
//! newest Kubernetes versions the workflow runs: what `KindCluster` makes of the
//! scenarios' pods and what `cargo xtask e2e kind` deploys as the sample app. No
//! cluster needed; the cluster itself runs in GitHub Actions.

use std::process::Command;

use e2e::cluster::PodSpec;
use e2e::cluster::kind::manifests;
use e2e::cluster::spec::{EXCLUDE_INBOUND_PORTS, EXCLUDE_OUTBOUND_PORTS};
use e2e::control_plane::dedent;
use e2e::prerequisites::{self, Prerequisite};
use e2e::scenarios;
use e2e::tools::workspace_root;

const VALIDATOR: Prerequisite = Prerequisite::Program {
    name: "kubernetes-validate",
    probe: "--version",
};
/// The versions of `.github/workflows/e2e-kind.yml`'s matrix.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.29.0", "1.34.0"];
const IMAGE: &str = "ghcr.io/mesh-dev/mesh-sample-app:0.1.0";

/// Validates `yaml` for every version; the validator's output on failure.
fn validate(name: &str, yaml: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).expect("write");
    for version in KUBERNETES_VERSIONS {
        let out = Command::new("kubernetes-validate")
            .args(["--strict", "--quiet", "-k", version])
            .arg(&file)
            .output()
            .expect("kubernetes-validate runs");
        assert!(
            out.status.success(),
            "{name} is not valid for Kubernetes {version}:\n{}{}\n{yaml}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn to_yaml(values: &[serde_json::Value]) -> String {
    values
        .iter()
        .map(|v| serde_norway::to_string(v).expect("YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn the_pods_the_scenarios_deploy_are_valid_kubernetes_objects() {
    if !prerequisites::met(&[VALIDATOR]) {
        return;
    }
    let specs = [
        PodSpec::sample_app("client-0", scenarios::NAMESPACE, "client", "v1", &[]),
        PodSpec::sample_app(
            "web-v1-0",
            scenarios::NAMESPACE,
            "web",
            "v1",
            &["http://db:9080/"],
        )
        .service_account("web")
        .annotation(EXCLUDE_OUTBOUND_PORTS, "9000")
        .annotation(EXCLUDE_INBOUND_PORTS, "9090"),
        PodSpec::sample_app("outsider-0", scenarios::NAMESPACE, "outsider", "v1", &[])
            .sidecar(false),
        PodSpec::new("job", scenarios::NAMESPACE).command(&[
            "mesh-sample-app",
            "get",
            "http://web:9080/",
        ]),
    ];
    let mut objects = vec![
        manifests::namespace(scenarios::NAMESPACE),
        manifests::service_account("web", scenarios::NAMESPACE),
    ];
    for spec in &specs {
        objects.push(manifests::pod(spec, IMAGE).expect("a pod"));
    }
    validate("pods", &to_yaml(&objects));
}

#[test]
fn the_scenarios_services_are_applied_as_valid_kubernetes_objects() {
    if !prerequisites::met(&[VALIDATOR]) {
        return;
    }
    let yaml = dedent(scenarios::WEB_SERVICE);
    let documents = manifests::documents("web.yaml", &yaml).expect("YAML");
    let list = manifests::labelled_list(&documents);
    let items = list["items"].as_array().cloned().unwrap_or_default();
    validate("services", &to_yaml(&items));
}

#[test]
fn the_sample_app_of_cargo_xtask_e2e_kind_is_valid() {
    if !prerequisites::met(&[VALIDATOR]) {
        return;
    }
    let path = workspace_root().join("e2e/kind/sample-app.yaml");
    let template = std::fs::read_to_string(&path).expect("e2e/kind/sample-app.yaml");
    validate(
        "sample-app",
        &template.replace("${SAMPLE_APP_IMAGE}", IMAGE),
    );
}
