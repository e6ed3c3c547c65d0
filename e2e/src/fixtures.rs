//! Config and services several suites share.

use crate::{Backend, Mesh};

/// Starts a [`Mesh`](crate::Mesh), or returns from the calling test when Envoy is not
/// installed (having printed why; under CI and `cargo xtask test` the test fails
/// instead, see [`prerequisites`](crate::prerequisites)).
#[macro_export]
macro_rules! mesh_or_skip {
    ($name:expr) => {
        match $crate::Mesh::start($name).await {
            Some(mesh) => mesh,
            None => return,
        }
    };
}

/// Subsets v1, v2 and v3 of `reviews`, by the `version` label.
pub const REVIEWS_SUBSETS: &str = "
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews, namespace: e2e}
    spec:
      host: reviews
      subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
      - {name: v3, labels: {version: v3}}
";

/// Service `reviews` with workloads reviews-v1, reviews-v2 and reviews-v3.
pub async fn reviews(mesh: &mut Mesh) {
    let backends = ["v1", "v2", "v3"].map(|v| Backend::version(&format!("reviews-{v}"), v));
    mesh.add_service("reviews", &backends).await;
}

/// VirtualService `flaky`: `/no-retry` with retries off, `/istio-default` with Istio's
/// default policy (no `retries`), everything else 3 attempts on 5xx.
pub const FLAKY_RETRIES: &str = "
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: flaky, namespace: e2e}
    spec:
      hosts: [flaky]
      http:
      - match: [{uri: {prefix: /no-retry}}]
        retries: {attempts: 0}
        route: [{destination: {host: flaky}}]
      - match: [{uri: {prefix: /istio-default}}]
        route: [{destination: {host: flaky}}]
      - route: [{destination: {host: flaky}}]
        retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 2s}
";

/// The captured-traffic tests' mesh: Service `web` (VIP 10.96.0.50:9080) with
/// WorkloadEntries v1 (10.99.0.10) and v2 (10.99.0.11), and a VirtualService that sends
/// `end-user: jason` to v2 and the rest to v1.
pub const CAPTURED_WEB: &str = "
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: demo}
    spec:
      clusterIP: 10.96.0.50
      selector: {app: web}
      ports: [{name: http, port: 9080}]
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: web-v1, namespace: demo}
    spec: {address: 10.99.0.10, labels: {app: web, version: v1}}
    ---
    apiVersion: networking.istio.io/v1
    kind: WorkloadEntry
    metadata: {name: web-v2, namespace: demo}
    spec: {address: 10.99.0.11, labels: {app: web, version: v2}}
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: web, namespace: demo}
    spec:
      host: web
      subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
    ---
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: web, namespace: demo}
    spec:
      hosts: [web]
      http:
      - match: [{headers: {end-user: {exact: jason}}}]
        route: [{destination: {host: web, subset: v2}}]
      - route: [{destination: {host: web, subset: v1}}]
";
