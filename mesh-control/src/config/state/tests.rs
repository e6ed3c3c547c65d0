//! Snapshots from batches of events: versions, readiness, and the delta pushes use.

use mesh_api::manifest::parse_file;

use super::*;
use crate::config::Origin;

fn reset(file: &str, yaml: &str) -> ConfigEvent {
    ConfigEvent::reset_to_file(Origin::File(file.into()), parse_file(file, yaml))
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {selector: {app: web}, ports: [{name: http, port: 80}]}\n";

fn workload(address: &str) -> String {
    format!(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: web-1, namespace: shop}}\nspec: {{address: {address}, labels: {{app: web}}}}\n"
    )
}

#[test]
fn the_first_batch_is_ready_even_empty_and_later_ones_only_when_something_changed() {
    let mut state = ConfigState::new(MeshSettings::default());
    assert_eq!(state.snapshot().version, 0);
    assert_eq!(state.apply(Vec::new()).map(|s| s.version), Some(1));
    assert!(state.apply(Vec::new()).is_none());
    let snapshot = state.apply(vec![reset("svc.yaml", SERVICE)]).unwrap();
    assert_eq!(snapshot.version, 2);
    assert!(snapshot.delta_since(1).unwrap().full, "a new Service");
    assert!(
        state.apply(vec![reset("svc.yaml", SERVICE)]).is_none(),
        "same objects"
    );
    // A new problem is a new version (the debug endpoint shows it), with no change.
    let broken = format!("{SERVICE}---\nkind: [broken\n");
    let snapshot = state.apply(vec![reset("svc.yaml", &broken)]).unwrap();
    assert_eq!(snapshot.errors.len(), 1, "{:?}", snapshot.errors);
    assert!(snapshot.delta_since(2).unwrap().is_empty());
}

#[test]
fn an_endpoint_change_is_an_incremental_delta() {
    let mut state = ConfigState::new(MeshSettings::default());
    state.apply(vec![
        reset("svc.yaml", SERVICE),
        reset("w.yaml", &workload("10.0.0.1")),
    ]);
    let snapshot = state
        .apply(vec![reset("w.yaml", &workload("10.0.0.2"))])
        .unwrap();
    let delta = snapshot.delta_since(1).unwrap();
    assert!(!delta.full);
    assert_eq!(
        delta.endpoints.iter().collect::<Vec<_>>(),
        ["web.shop.svc.cluster.local"]
    );
    let endpoints = &snapshot.model.services["web.shop.svc.cluster.local"].endpoints;
    assert_eq!(endpoints[0].address, "10.0.0.2");
}
