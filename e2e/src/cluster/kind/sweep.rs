//! Leaving the cluster as the suite found it: everything the suite creates carries
//! `mesh.dev/e2e=kind`, so a run sweeps what an interrupted one left, and a failed
//! scenario's logs are saved before its pods go.

use std::path::Path;

use super::kubectl::{self, Kubectl};
use super::manifests::{self, E2E_LABEL, E2E_LABEL_VALUE, ObjectKey};
use crate::cluster::{ClusterError, PodRef};

/// How long deleting the suite's namespaces may take (their pods drain).
const NAMESPACE_DELETE_SECONDS: u64 = 170;

fn selector() -> String {
    format!("{E2E_LABEL}={E2E_LABEL_VALUE}")
}

/// Deletes the suite's namespaces (waiting) and the suite's objects in other
/// namespaces (mesh config in the control plane's namespace).
pub async fn sweep(kubectl: &Kubectl) -> Result<(), ClusterError> {
    let selector = selector();
    let timeout = format!("--timeout={NAMESPACE_DELETE_SECONDS}s");
    let args = [
        "delete",
        "namespace",
        "-l",
        &selector,
        "--wait=true",
        &timeout,
    ];
    let patience = std::time::Duration::from_secs(NAMESPACE_DELETE_SECONDS + 10);
    kubectl.run_for(&args, None, patience).await?;
    let resources = kubectl
        .run(
            &[
                "api-resources",
                "--verbs=delete",
                "--namespaced=true",
                "-o",
                "name",
            ],
            None,
        )
        .await?;
    let kinds = sweep_kinds(&resources).join(",");
    let args = [
        "delete",
        &kinds,
        "-A",
        "-l",
        &selector,
        "--ignore-not-found",
        "--wait=true",
    ];
    kubectl.run_for(&args, None, patience).await?;
    Ok(())
}

/// The namespaced resources a scenario may leave outside its namespaces: the mesh's
/// and Istio's config, Services, ServiceAccounts and Pods.
fn sweep_kinds(api_resources: &str) -> Vec<&str> {
    let mut kinds: Vec<&str> = api_resources
        .lines()
        .map(str::trim)
        .filter(|r| r.ends_with(".istio.io") || r.ends_with(".mesh.dev"))
        .collect();
    kinds.extend(["services", "serviceaccounts", "pods"]);
    kinds
}

/// Deletes `keys`, grouped by namespace, waiting.
pub async fn delete(kubectl: &Kubectl, keys: &[ObjectKey]) -> Result<(), ClusterError> {
    for args in delete_args(keys, true) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl.run(&args, None).await?;
    }
    Ok(())
}

/// Starts deleting the suite's namespaces and `keys` without waiting, outside an async
/// runtime (for `Drop`; the next run's sweep waits for them).
pub fn delete_blocking(kubectl: &Kubectl, keys: &[ObjectKey]) {
    let selector = selector();
    let _ = kubectl.run_blocking(&["delete", "namespace", "-l", &selector, "--wait=false"]);
    for args in delete_args(keys, false) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = kubectl.run_blocking(&args);
    }
}

fn delete_args(keys: &[ObjectKey], wait: bool) -> Vec<Vec<String>> {
    manifests::delete_names(keys)
        .into_iter()
        .map(|(namespace, names)| {
            let mut args = vec![
                "delete".to_string(),
                "--ignore-not-found".to_string(),
                format!("--wait={wait}"),
            ];
            if !namespace.is_empty() {
                args.extend(["-n".to_string(), namespace]);
            }
            args.extend(names);
            args
        })
        .collect()
}

/// Saves each pod's logs and description, the control plane's logs and the cluster's
/// events under `dir` (blocking: called from `Drop` during a panic).
pub fn save_logs<'a>(
    kubectl: &Kubectl,
    pods: impl Iterator<Item = &'a PodRef>,
    control_plane_logs: Vec<String>,
    dir: &Path,
) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("kind: could not create {}: {e}", dir.display());
        return;
    }
    let mut saved: Vec<(String, Vec<String>)> = Vec::new();
    for pod in pods {
        let (name, ns) = (pod.name.as_str(), pod.namespace.as_str());
        let file = format!("{ns}.{name}");
        let logs = [
            "logs",
            name,
            "-n",
            ns,
            "--all-containers",
            "--prefix",
            "--timestamps",
        ];
        let describe = ["describe", "pod", name, "-n", ns];
        saved.push((format!("{file}.log"), logs.map(String::from).to_vec()));
        saved.push((
            format!("{file}.describe"),
            describe.map(String::from).to_vec(),
        ));
    }
    saved.push(("mesh-control.log".to_string(), control_plane_logs));
    let events = ["get", "events", "-A", "--sort-by=.lastTimestamp"];
    saved.push(("events.txt".to_string(), events.map(String::from).to_vec()));
    for (file, args) in saved {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = kubectl.run_blocking(&args).unwrap_or_else(|e| e);
        let _ = std::fs::write(dir.join(&file), &text);
    }
    eprintln!("kind: logs of this scenario saved in {}", dir.display());
}

/// `kubectl describe` and the last logs of every container of `pod`, for an error.
pub async fn describe(kubectl: &Kubectl, pod: &PodRef) -> String {
    let (name, ns) = (pod.name.as_str(), pod.namespace.as_str());
    let mut text = String::new();
    for args in [
        vec!["describe", "pod", name, "-n", ns],
        vec![
            "logs",
            name,
            "-n",
            ns,
            "--all-containers",
            "--prefix",
            "--tail=40",
        ],
    ] {
        match kubectl.output(&args, None, kubectl::DEFAULT_TIMEOUT).await {
            Ok(out) => text.push_str(&format!("{}{}", out.stdout, out.stderr)),
            Err(e) => text.push_str(&format!("{e}\n")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_covers_mesh_and_istio_config_and_the_suites_own_objects() {
        let resources = "pods\nservices\nvirtualservices.networking.istio.io\n\
                         peerauthentications.security.mesh.dev\ndeployments.apps\n";
        assert_eq!(
            sweep_kinds(resources),
            [
                "virtualservices.networking.istio.io",
                "peerauthentications.security.mesh.dev",
                "services",
                "serviceaccounts",
                "pods"
            ]
        );
    }

    #[test]
    fn deletes_are_grouped_by_namespace() {
        let key = |ns: &str, kind: &str, name: &str| ObjectKey {
            api_version: "v1".to_string(),
            kind: kind.to_string(),
            namespace: ns.to_string(),
            name: name.to_string(),
        };
        let keys = [key("mesh", "Service", "web"), key("", "Namespace", "x")];
        assert_eq!(
            delete_args(&keys, false),
            [
                vec![
                    "delete",
                    "--ignore-not-found",
                    "--wait=false",
                    "namespace/x"
                ],
                vec![
                    "delete",
                    "--ignore-not-found",
                    "--wait=false",
                    "-n",
                    "mesh",
                    "service/web"
                ],
            ]
        );
    }
}
