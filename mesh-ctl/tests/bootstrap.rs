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
    bootstrap_at("127.0.0.1:15010", extra)
}

fn bootstrap_at(xds_address: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bootstrap",
        "envoy",
        "--workload",
        "reviews-v1-0.bookinfo",
        "--ip",
        "10.10.0.21",
        "--xds-address",
        xds_address,
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
        (
            "json",
            vec![
                "--xds-address",
                "mesh-control.mesh-system.svc:15012",
                "--sds-socket",
                "/var/run/mesh/sds.sock",
            ],
        ),
        (
            "yaml",
            vec![
                "-o",
                "yaml",
                "--xds-address",
                "127.0.0.1:15012",
                "--sds-socket",
                "/var/run/mesh/sds.sock",
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
        let file = dir.path().join(format!("envoy-{}.{format}", args.len()));
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

#[test]
fn sds_socket_adds_istios_sds_cluster_and_tls_to_15012() {
    let b = bootstrap_at(
        "10.0.0.5:15012",
        &["--sds-socket", "/var/run/mesh/sds.sock"],
    );
    // The control plane sends mTLS only to proxies that say they have SDS.
    assert_eq!(b["node"]["metadata"]["SDS"], "true");
    let clusters = b["static_resources"]["clusters"]
        .as_array()
        .expect("clusters");
    let sds = clusters
        .iter()
        .find(|c| c["name"] == "sds-grpc")
        .expect("sds-grpc");
    assert_eq!(sds["type"], "STATIC");
    assert_eq!(
        sds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["pipe"]["path"],
        "/var/run/mesh/sds.sock"
    );
    assert!(
        sds["typed_extension_protocol_options"]
            ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"]
            ["http2_protocol_options"]
            .is_object()
    );
    let xds = clusters
        .iter()
        .find(|c| c["name"] == "xds-grpc")
        .expect("xds-grpc");
    let tls = &xds["transport_socket"]["typed_config"];
    let common = &tls["common_tls_context"];
    assert_eq!(
        common["tls_certificate_sds_secret_configs"][0]["name"],
        "default"
    );
    let validation = &common["combined_validation_context"];
    assert_eq!(
        validation["validation_context_sds_secret_config"]["name"],
        "ROOTCA"
    );
    assert_eq!(
        validation["default_validation_context"]["match_typed_subject_alt_names"][0],
        serde_json::json!({"san_type": "IP_ADDRESS", "matcher": {"exact": "10.0.0.5"}})
    );
    assert!(tls.get("sni").is_none(), "no SNI for an IP");
    assert_eq!(
        common["tls_certificate_sds_secret_configs"][0]["sds_config"]["api_config_source"]["grpc_services"]
            [0]["envoy_grpc"]["cluster_name"],
        "sds-grpc"
    );

    // 15010 stays plain text; the SDS cluster still serves the workloads' mTLS.
    let plain = bootstrap(&["--sds-socket", "/var/run/mesh/sds.sock"]);
    let clusters = plain["static_resources"]["clusters"]
        .as_array()
        .expect("clusters");
    assert!(clusters.iter().any(|c| c["name"] == "sds-grpc"));
    assert!(clusters[0].get("transport_socket").is_none());

    // A name is verified as a DNS SAN and sent as SNI; --xds-san overrides.
    let named = bootstrap_at(
        "mesh-control.mesh-system.svc:15443",
        &[
            "--sds-socket",
            "/s.sock",
            "--xds-tls",
            "on",
            "--xds-san",
            "mesh-control.mesh-system.svc.cluster.local",
        ],
    );
    let tls = &named["static_resources"]["clusters"][0]["transport_socket"]["typed_config"];
    assert_eq!(tls["sni"], "mesh-control.mesh-system.svc");
    assert_eq!(
        tls["common_tls_context"]["combined_validation_context"]["default_validation_context"]["match_typed_subject_alt_names"]
            [0],
        serde_json::json!({"san_type": "DNS", "matcher": {"exact": "mesh-control.mesh-system.svc.cluster.local"}})
    );
}

#[test]
fn tls_to_the_control_plane_without_sds_says_what_to_add() {
    let out = meshctl(&[
        "bootstrap",
        "envoy",
        "--workload",
        "reviews-v1-0.bookinfo",
        "--ip",
        "10.10.0.21",
        "--xds-address",
        "127.0.0.1:15012",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--sds-socket"), "{err}");
    // Plain text to 15012 when asked for explicitly.
    let out = meshctl(&[
        "bootstrap",
        "envoy",
        "--workload",
        "reviews-v1-0.bookinfo",
        "--ip",
        "10.10.0.21",
        "--xds-address",
        "127.0.0.1:15012",
        "--xds-tls",
        "off",
    ]);
    assert!(out.status.success());
}
