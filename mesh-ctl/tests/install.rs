//! `meshctl install`/`uninstall` against a fake `helm` (a shell script that logs its
//! arguments): the order of the steps, progress, the failed step's message, dry runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A helm that logs each call to `log` and fails on `upgrade` of `fail_on`.
fn fake_helm(dir: &Path, fail_on: &str) -> PathBuf {
    let helm = dir.join("helm");
    let log = dir.join("log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {log}\ncase \"$1 $3\" in\n  \"upgrade {fail_on}\") echo 'Error: resource Deployment/mesh-system/mesh-control not ready' >&2; exit 1;;\n  template*) echo \"kind: Rendered # $2\";;\nesac\n",
        log = log.display()
    );
    std::fs::write(&helm, script).expect("the fake helm is written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755))
            .expect("the fake helm is executable");
    }
    helm
}

fn meshctl(helm: &Path, args: &[&str]) -> Output {
    let charts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts");
    Command::new(env!("CARGO_BIN_EXE_meshctl"))
        .args(args)
        .arg("--helm")
        .arg(helm)
        .arg("--charts")
        .arg(charts)
        .output()
        .expect("meshctl runs")
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn install_runs_the_charts_in_order_and_uninstall_reverses_it() {
    let dir = tempfile::tempdir().unwrap();
    let helm = fake_helm(dir.path(), "none");
    let out = meshctl(
        &helm,
        &["install", "--with-gateway", "--context", "kind-mesh"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        calls(dir.path()),
        [
            "upgrade --install mesh-base",
            "upgrade --install mesh-control",
            "upgrade --install mesh-ingress"
        ]
    );
    assert!(
        stdout.contains("[2/3] install mesh-control into mesh-system (waits until it is ready) …")
    );
    assert!(stdout.contains("[3/3] ✔ mesh-ingress"));
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    assert!(
        log.lines().all(|l| l.ends_with("--kube-context=kind-mesh")),
        "{log}"
    );

    std::fs::remove_file(dir.path().join("log")).unwrap();
    let out = meshctl(&helm, &["uninstall"]);
    assert!(out.status.success());
    assert_eq!(
        calls(dir.path()),
        [
            "uninstall mesh-ingress --namespace=mesh-ingress",
            "uninstall mesh-control --namespace=mesh-system",
            "uninstall mesh-base --namespace=mesh-system"
        ]
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Helm keeps the CRDs"));
}

#[test]
fn a_failed_step_stops_the_install_and_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let helm = fake_helm(dir.path(), "mesh-control");
    let out = meshctl(&helm, &["install", "--with-gateway"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("step 2/3 (install mesh-control) failed"),
        "{stderr}"
    );
    assert!(stderr.contains("not ready"), "{stderr}");
    assert!(
        stderr.contains("check: `kubectl -n mesh-system get pods`"),
        "{stderr}"
    );
    // The gateway is not installed after a failed control plane.
    assert_eq!(calls(dir.path()).len(), 2);
}

#[test]
fn dry_run_renders_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let helm = fake_helm(dir.path(), "none");
    let out = meshctl(
        &helm,
        &["install", "--dry-run", "--set", "control.replicaCount=2"],
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("# [2/2] would run: "), "{stdout}");
    assert!(stdout.contains("kind: Rendered # mesh-control"), "{stdout}");
    assert!(stdout.ends_with("# dry run: nothing was changed\n"));
    assert!(calls(dir.path()).iter().all(|c| c.starts_with("template ")));
}

#[test]
fn values_without_a_chart_are_refused_before_helm_runs() {
    let dir = tempfile::tempdir().unwrap();
    let helm = fake_helm(dir.path(), "none");
    let out = meshctl(&helm, &["install", "--set", "replicaCount=2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("control.KEY=VALUE"));
    assert!(calls(dir.path()).is_empty());
}
