//! `meshctl analyze` as users run it: the real binary on files and directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(path)
}

fn meshctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("meshctl runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_messages(path: &Path) -> (i32, Vec<serde_json::Value>) {
    let path = path.to_str().expect("test paths are UTF-8");
    let out = meshctl(&["analyze", "-f", path, "-o", "json"]);
    let messages: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("json output: {e}: {}", stdout(&out)));
    (out.status.code().unwrap_or(-1), messages)
}

#[test]
fn istio_bookinfo_samples_with_istio_api_versions_pass() {
    let dir = data("istio-bookinfo");
    let out = meshctl(&["analyze", "-f", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("Error ["), "{text}");
    assert!(text.contains("analyzing 8 files"), "{text}");
    assert!(text.contains("4 other documents skipped"), "{text}");
}

#[test]
fn universal_mode_example_passes_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/bookinfo");
    let out = meshctl(&["analyze", "-f", dir.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("✔ No validation issues found"), "{text}");
}

#[test]
fn each_broken_config_fails_with_its_code_object_and_location() {
    let cases = [
        (
            "host-not-found.yaml",
            "IST0101",
            "VirtualService shop/reviews",
            "host-not-found.yaml:8",
            "spec.http[0].route[0].destination.host",
        ),
        (
            "subset-not-found.yaml",
            "IST0101",
            "VirtualService shop/reviews",
            "subset-not-found.yaml:15",
            "spec.http[0].route[0].destination.subset",
        ),
        (
            "schema-error.yaml",
            "IST0106",
            "DestinationRule shop/reviews",
            "schema-error.yaml:11",
            "spec.trafficPolicy.outlierDetection.interval",
        ),
        (
            "conflicting-peer-authentication.yaml",
            "MSH0004",
            "PeerAuthentication istio-system/permissive",
            "conflicting-peer-authentication.yaml:7",
            "",
        ),
    ];
    for (file, code, origin, reference, field) in cases {
        let (status, messages) = json_messages(&data("broken").join(file));
        assert_eq!(status, 79, "{file}: {messages:#?}");
        let found = messages
            .iter()
            .find(|m| m["code"] == code)
            .unwrap_or_else(|| panic!("{file}: no {code} in {messages:#?}"));
        assert_eq!(found["level"], "Error", "{file}");
        assert_eq!(found["origin"], origin, "{file}");
        assert!(
            found["reference"].as_str().unwrap().ends_with(reference),
            "{file}: {found}"
        );
        if !field.is_empty() {
            assert_eq!(found["field"], field, "{file}");
        }
        assert!(!found["fix"].as_str().unwrap().is_empty());
    }
}

#[test]
fn text_output_names_level_code_object_location_and_fix() {
    let out = meshctl(&[
        "analyze",
        "-f",
        data("broken/host-not-found.yaml").to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(79));
    assert!(
        text.contains("Error [IST0101] (VirtualService shop/reviews "),
        "{text}"
    );
    assert!(text.contains("host-not-found.yaml:8) spec.http[0].route[0].destination.host: Referenced host not found: \"reveiws\""), "{text}");
    assert!(text.contains("  fix: "), "{text}");
    assert!(!text.contains('\x1b'), "no colors with NO_COLOR");
}

#[test]
fn yaml_output_and_failure_threshold() {
    let file = data("broken/host-not-found.yaml");
    let out = meshctl(&["analyze", "-f", file.to_str().unwrap(), "-o", "yaml"]);
    let messages: Vec<serde_norway::Value> = serde_norway::from_slice(&out.stdout).unwrap();
    assert_eq!(messages[0]["code"].as_str(), Some("IST0101"));
    // Warnings fail only when asked to.
    let dir = tempfile::tempdir().unwrap();
    let warn = dir.path().join("weights.yaml");
    std::fs::write(&warn, "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{name: http, port: 80}]}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - {destination: {host: a}, weight: 10}\n    - {destination: {host: a}, weight: 10}\n").unwrap();
    assert_eq!(
        meshctl(&["analyze", "-f", warn.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        meshctl(&[
            "analyze",
            "-f",
            warn.to_str().unwrap(),
            "--failure-threshold",
            "Warning"
        ])
        .status
        .code(),
        Some(79)
    );
}

#[test]
fn a_missing_path_says_what_to_do() {
    let out = meshctl(&["analyze", "-f", "/nonexistent/config"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("check the path given to -f"), "{err}");
}
