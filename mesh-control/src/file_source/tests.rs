//! The file source against a real directory and real inotify events.

use std::time::Duration;

use mesh_api::model::MeshSettings;
use tokio::sync::watch;

use super::*;
use crate::config::ConfigSnapshot;

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80}]\n";
const ENDPOINT: &str = "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {name: web-1, namespace: shop}\nspec: {address: 10.0.0.1, labels: {app: web}}\n";

fn source(dir: &Path) -> FileSource {
    FileSource {
        dir: dir.to_path_buf(),
        debounce: Duration::from_millis(20),
    }
}

/// Starts `source` on a hub of its own; returns the hub's snapshots.
fn start(source: FileSource) -> anyhow::Result<watch::Receiver<Arc<ConfigSnapshot>>> {
    let hub = ConfigHub::new(MeshSettings::default());
    let rx = hub.subscribe();
    source.start(hub)?;
    Ok(rx)
}

/// Waits for a snapshot that satisfies `done`, failing after a generous deadline.
async fn wait_for(
    rx: &mut watch::Receiver<Arc<ConfigSnapshot>>,
    what: &str,
    done: impl Fn(&ConfigSnapshot) -> bool,
) -> Arc<ConfigSnapshot> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let current = rx.borrow_and_update().clone();
        if done(&current) {
            return current;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}; last snapshot: {current:#?}"),
        }
    }
}

fn endpoints(s: &ConfigSnapshot) -> usize {
    s.model
        .services
        .get("web.shop.svc.cluster.local")
        .map_or(0, |s| s.endpoints.len())
}

#[tokio::test]
async fn loads_recursively_and_picks_up_changes_while_running() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(dir.path().join("nested/service.yaml"), SERVICE).unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
    let mut rx = start(source(dir.path())).unwrap();
    let first = wait_for(&mut rx, "the service", |s| s.model.services.len() == 1).await;
    assert_eq!(endpoints(&first), 0);
    assert!(first.errors.is_empty(), "{:?}", first.errors);

    std::fs::write(dir.path().join("endpoint.yml"), ENDPOINT).unwrap();
    wait_for(&mut rx, "the new endpoint", |s| endpoints(s) == 1).await;

    std::fs::remove_file(dir.path().join("endpoint.yml")).unwrap();
    wait_for(&mut rx, "the endpoint to go", |s| endpoints(s) == 0).await;
}

#[tokio::test]
async fn bad_document_is_reported_and_the_last_good_config_stays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.yaml");
    std::fs::write(&path, format!("{SERVICE}---\n{ENDPOINT}")).unwrap();
    let mut rx = start(source(dir.path())).unwrap();
    wait_for(&mut rx, "the initial config", |s| endpoints(s) == 1).await;

    let broken = ENDPOINT.replace("address: 10.0.0.1", "address: 10.0.0.1, adress: typo");
    std::fs::write(&path, format!("{SERVICE}---\n{broken}")).unwrap();
    let snapshot = wait_for(&mut rx, "the error", |s| !s.errors.is_empty()).await;
    assert_eq!(
        endpoints(&snapshot),
        1,
        "the last good WorkloadEntry stays in force"
    );
    let error = &snapshot.errors[0];
    assert!(
        error.starts_with("all.yaml:11 (document 2): WorkloadEntry shop/web-1: spec.adress: unknown field `adress`"),
        "{error}"
    );

    std::fs::write(
        &path,
        format!("{SERVICE}---\n{}", ENDPOINT.replace("10.0.0.1", "10.0.0.2")),
    )
    .unwrap();
    let fixed = wait_for(&mut rx, "the fix", |s| s.errors.is_empty()).await;
    let service = &fixed.model.services["web.shop.svc.cluster.local"];
    assert_eq!(service.endpoints[0].address, "10.0.0.2");
}

#[test]
fn a_missing_directory_is_a_clear_start_up_error() {
    let err = start(source(Path::new("/nonexistent/mesh-config"))).unwrap_err();
    assert!(err.to_string().contains("--config-dir"), "{err}");
}

#[tokio::test]
async fn kubernetes_kinds_load_and_give_endpoints_with_their_pods_identity() {
    const KUBERNETES: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {istio-injection: enabled}}\n---\n\
        apiVersion: v1\nkind: Pod\nmetadata: {name: web-0, namespace: shop, labels: {app: web}}\n\
        spec: {serviceAccountName: web, containers: [{name: app}]}\nstatus: {phase: Running, podIP: 10.0.0.7}\n---\n\
        apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
        metadata: {name: web-abc, namespace: shop, labels: {kubernetes.io/service-name: web}}\n\
        addressType: IPv4\nports: [{name: http, port: 80}]\n\
        endpoints: [{addresses: [10.0.0.7], targetRef: {kind: Pod, name: web-0, namespace: shop}}]\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("service.yaml"), SERVICE).unwrap();
    std::fs::write(dir.path().join("kube.yaml"), KUBERNETES).unwrap();
    let mut rx = start(source(dir.path())).unwrap();
    let loaded = wait_for(&mut rx, "the slice's endpoint", |s| endpoints(s) == 1).await;
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let endpoint = &loaded.model.services["web.shop.svc.cluster.local"].endpoints[0];
    assert_eq!(endpoint.service_account.as_deref(), Some("web"));
    assert!(
        loaded
            .model
            .objects
            .keys()
            .any(|r| r.kind == mesh_api::object::Kind::Namespace && r.name == "shop"),
        "the Namespace is kept, cluster-scoped"
    );
}
