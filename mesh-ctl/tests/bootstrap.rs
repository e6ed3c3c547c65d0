//! `meshctl bootstrap envoy` as users run it, checked by real Envoy's validate mode.

use std::path::PathBuf;
use std::process::{Command, Output};

fn meshctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .output()
        .expect("meshctl runs")
}

/// Envoy from `cargo xtask tools`: `$MESH_TOOLS_DIR/envoy`, else `target/tools/bin/envoy`.
fn envoy() -> Option<PathBuf> {
    let dir = std::env::var_os("MESH_TOOLS_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin"),
        PathBuf::from,
    );
    let envoy = dir.join("envoy");
    envoy.is_file().then_some(envoy)
}

fn bootstrap(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bootstrap",
        "envoy",
        "--workload",
        "reviews-v1-0.bookinfo",
        "--ip",
        "10.10.0.21",
        "--xds-address",
        "127.0.0.1:15010",
        "--labels",
        "app=reviews,version=v1",
        "--service-account",
        "bookinfo-reviews",
    ];
    args.extend_from_slice(extra);
    let out = meshctl(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("bootstrap is JSON")
}

#[test]
fn bootstrap_carries_istio_node_id_and_metadata() {
    let b = bootstrap(&[]);
    let node = &b["node"];
    assert_eq!(
        node["id"],
        "sidecar~10.10.0.21~reviews-v1-0.bookinfo~bookinfo.svc.cluster.local"
    );
    let meta = &node["metadata"];
    assert_eq!(meta["NAMESPACE"], "bookinfo");
    assert_eq!(meta["LABELS"]["version"], "v1");
    assert_eq!(meta["SERVICE_ACCOUNT"], "bookinfo-reviews");
    assert_eq!(meta["INSTANCE_IPS"], "10.10.0.21");
    assert_eq!(meta["WORKLOAD_NAME"], "reviews-v1-0");
    assert_eq!(meta["CLUSTER_ID"], "Kubernetes");
    let ads = &b["dynamic_resources"]["ads_config"];
    assert_eq!(ads["api_type"], "GRPC");
    assert_eq!(
        ads["grpc_services"][0]["envoy_grpc"]["cluster_name"],
        "xds-grpc"
    );
    assert_eq!(b["admin"]["address"]["socket_address"]["port_value"], 15000);
    // Istio's RE2 limit, without which Envoy NACKs regexes Istio accepts.
    assert_eq!(
        b["layered_runtime"]["layers"][0]["static_layer"]["re2.max_program_size.error_level"],
        "32768"
    );

    let delta = bootstrap(&["--xds-delta", "--admin-port", "16000"]);
    assert_eq!(
        delta["dynamic_resources"]["ads_config"]["api_type"],
        "DELTA_GRPC"
    );
    assert_eq!(
        delta["admin"]["address"]["socket_address"]["port_value"],
        16000
    );
}

#[test]
fn real_envoy_accepts_the_bootstrap_in_json_and_yaml() {
    let Some(envoy) = envoy() else {
        eprintln!(
            "SKIPPED: envoy is not installed; run `cargo xtask tools` (or set MESH_TOOLS_DIR)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for (format, extra) in [
        (
            "json",
            vec!["--xds-delta", "--xds-address", "127.0.0.1:15010"],
        ),
        (
            "yaml",
            vec![
                "-o",
                "yaml",
                "--xds-address",
                "mesh-control.mesh-system.svc:15010",
            ],
        ),
    ] {
        let mut args = vec![
            "bootstrap",
            "envoy",
            "--workload",
            "productpage-v1-0.bookinfo",
            "--ip",
            "10.10.0.10",
        ];
        args.extend(extra);
        let out = meshctl(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir.path().join(format!("envoy.{format}"));
        std::fs::write(&file, &out.stdout).expect("write bootstrap");
        let check = Command::new(&envoy)
            .args([
                "--mode",
                "validate",
                "--disable-hot-restart",
                "-l",
                "error",
                "-c",
            ])
            .arg(&file)
            .output()
            .expect("envoy runs");
        assert!(
            check.status.success(),
            "envoy rejects the {format} bootstrap:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
    }
}

#[test]
fn workload_without_namespace_names_the_expected_form() {
    let out = meshctl(&[
        "bootstrap",
        "envoy",
        "--workload",
        "reviews",
        "--ip",
        "10.10.0.21",
        "--xds-address",
        "127.0.0.1:15010",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NAME.NAMESPACE"), "{err}");
}
