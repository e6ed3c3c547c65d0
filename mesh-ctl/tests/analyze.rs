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

/// `(code, origin)` of every message, sorted.
fn codes_and_origins(messages: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            (
                m["code"].as_str().unwrap_or_default().to_string(),
                m["origin"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file written");
    path
}

#[test]
fn istio_bookinfo_samples_get_the_messages_istio_gives() {
    let (status, messages) = json_messages(&data("istio-bookinfo"));
    assert_eq!(status, 79, "{messages:#?}");
    let expected: Vec<(String, String)> = [
        ("IST0127", "AuthorizationPolicy default/allow-nothing"),
        (
            "IST0127",
            "AuthorizationPolicy istio-system/frontend-ingress",
        ),
        ("IST0162", "Gateway default/bookinfo-gateway"),
        ("IST0173", "DestinationRule default/details"),
        ("IST0173", "DestinationRule default/ratings"),
        ("IST0173", "DestinationRule default/ratings"),
        ("IST0173", "DestinationRule default/ratings"),
        ("IST0173", "DestinationRule default/reviews"),
        ("IST0173", "DestinationRule default/reviews"),
    ]
    .iter()
    .map(|(c, o)| (c.to_string(), o.to_string()))
    .collect();
    assert_eq!(codes_and_origins(&messages), expected);
    let out = meshctl(&["analyze", "-f", data("istio-bookinfo").to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("analyzing 8 files (20 objects, 1 other document skipped)"),
        "{text}"
    );
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
            "host-not-found.yaml:15",
            "spec.http[0].route[0].destination.host",
        ),
        (
            "subset-not-found.yaml",
            "IST0101",
            "VirtualService shop/reviews",
            "subset-not-found.yaml:22",
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
    assert!(text.contains("host-not-found.yaml:15) spec.http[0].route[0].destination.host: Referenced host not found: \"reveiws\""), "{text}");
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

const TWO_NAMESPACES: &str = "apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {ports: [{name: web, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: b}
spec: {ports: [{name: web, port: 80}]}
---
apiVersion: v1
kind: Service
metadata:
  name: quiet
  namespace: b
  annotations: {galley.istio.io/analyze-suppress: IST0118}
spec: {ports: [{name: web, port: 80}]}
";

#[test]
fn namespace_filter_and_suppressions() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "services.yaml", TWO_NAMESPACES);
    let file = file.to_str().unwrap();
    let origins = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["analyze", "-f", file, "-o", "json"];
        all.extend_from_slice(args);
        let out = meshctl(&all);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        let messages: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        codes_and_origins(&messages)
            .into_iter()
            .map(|(_, o)| o)
            .collect()
    };
    assert_eq!(origins(&[]), ["Service a/web", "Service b/web"]);
    assert_eq!(origins(&["-A"]), ["Service a/web", "Service b/web"]);
    assert_eq!(origins(&["-n", "b"]), ["Service b/web"]);
    assert_eq!(origins(&["-S", "IST0118=Service web.a"]), ["Service b/web"]);
    assert_eq!(
        origins(&["--suppress", "IST0118=Service */web"]),
        Vec::<String>::new()
    );
    let bad = meshctl(&["analyze", "-f", file, "-S", "IST0118"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("CODE=Kind name.namespace"));
}

#[test]
fn the_exit_status_counts_messages_the_output_threshold_hides() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "services.yaml", TWO_NAMESPACES);
    let file = file.to_str().unwrap();
    let out = meshctl(&[
        "analyze",
        "-f",
        file,
        "--failure-threshold",
        "Info",
        "--output-threshold",
        "Warning",
    ]);
    assert_eq!(out.status.code(), Some(79));
    assert!(!stdout(&out).contains("IST0118"), "{}", stdout(&out));
    let out = meshctl(&[
        "analyze",
        "-f",
        file,
        "--failure-threshold",
        "INFO",
        "-o",
        "yaml",
    ]);
    assert_eq!(out.status.code(), Some(79));
}

#[test]
fn a_mesh_config_file_changes_what_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let entry = write(
        dir.path(),
        "entry.yaml",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: db}\nspec: {hosts: [db.example.com], ports: [{number: 5432, name: tcp}], resolution: DNS}\n",
    );
    let mesh = write(
        dir.path(),
        "mesh.yaml",
        "defaultConfig:\n  proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true'}\n",
    );
    let (_, plain) = json_messages(&entry);
    assert_eq!(
        codes_and_origins(&plain),
        [("IST0134".to_string(), "ServiceEntry default/db".to_string())]
    );
    let out = meshctl(&[
        "analyze",
        "-f",
        entry.to_str().unwrap(),
        "--meshConfigFile",
        mesh.to_str().unwrap(),
        "-o",
        "json",
    ]);
    let messages: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(messages.is_empty(), "{messages:#?}");
    let missing = meshctl(&[
        "analyze",
        "-f",
        entry.to_str().unwrap(),
        "--meshConfigFile",
        "/nonexistent/mesh.yaml",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--meshConfigFile"));
}

#[test]
fn istioctl_flags_for_files_only_analysis_are_accepted() {
    let file = data("broken/host-not-found.yaml");
    let file = file.to_str().unwrap();
    assert_eq!(
        meshctl(&["analyze", "--use-kube=false", file])
            .status
            .code(),
        Some(79)
    );
    // Files and the cluster together: without a cluster, an error that says what to do.
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args([
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "analyze",
            "-k",
            "true",
            file,
        ])
        .output()
        .expect("meshctl runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check the path given to --kubeconfig"));
}

#[test]
fn json_messages_link_their_documentation() {
    let (_, messages) = json_messages(&data("broken/host-not-found.yaml"));
    assert_eq!(
        messages[0]["documentationUrl"],
        "https://istio.io/latest/docs/reference/config/analysis/ist0101/"
    );
}

#[test]
fn list_and_help_name_every_code_and_flag() {
    let listed = stdout(&meshctl(&["analyze", "-L"]));
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/analyze.md"))
            .unwrap();
    for line in docs
        .lines()
        .filter(|l| l.starts_with("| IST") || l.starts_with("| MSH"))
    {
        let code = &line[2..9];
        assert!(listed.contains(code), "{code} missing from -L:\n{listed}");
    }
    let help = stdout(&meshctl(&["analyze", "--help"]));
    for flag in [
        "--filename",
        "--output",
        "--failure-threshold",
        "--output-threshold",
        "--namespace",
        "--all-namespaces",
        "--suppress",
        "--meshConfigFile",
        "--root-namespace",
        "--alpha-annotations",
        "--use-kube",
        "--list-analyzers",
        "--color",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn without_files_or_a_cluster_it_says_how_to_give_either() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .arg("analyze")
        .env("HOME", home.path())
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("meshctl runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("-f PATH") && stderr.contains("set KUBECONFIG or pass --kubeconfig"),
        "{stderr}"
    );
}
