//! Istio's traffic-management tasks, replayed against real Envoy 1.40 fed by
//! `mesh-control`: request routing, traffic shifting (HTTP and TCP), fault injection,
//! request timeouts, circuit breaking, outlier detection, mirroring, CORS, match kinds,
//! ServiceEntries, Sidecar egress scoping and consistent hashing.
//!
//! The configs are Istio's own YAML from istio.io (bookinfo names, original
//! `networking.istio.io` versions), with `namespace: e2e` added and delays shortened;
//! each test asserts what Istio's documentation says the user sees. Skipped (with a
//! message) when Envoy is not installed: `cargo xtask tools`. See docs/conformance.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use e2e::echo::DELAY_REQUEST_HEADER;
use e2e::http::Call;
use e2e::mesh_or_skip;
use e2e::tcp_echo::tcp_exchange;
use e2e::{
    Backend, EchoServer, HttpClient, Mesh, Reply, TcpEchoServer, assert_binomial, eventually,
};
use hyper::Method;

/// How long a config change may take to reach Envoy.
const CONFIG_DEADLINE: Duration = Duration::from_secs(20);

/// Istio's `samples/bookinfo/networking/destination-rule-all.yaml`.
const DESTINATION_RULE_ALL: &str = "
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: productpage
      namespace: e2e
    spec:
      host: productpage
      subsets:
      - name: v1
        labels:
          version: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: reviews
      namespace: e2e
    spec:
      host: reviews
      subsets:
      - name: v1
        labels:
          version: v1
      - name: v2
        labels:
          version: v2
      - name: v3
        labels:
          version: v3
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: ratings
      namespace: e2e
    spec:
      host: ratings
      subsets:
      - name: v1
        labels:
          version: v1
      - name: v2
        labels:
          version: v2
      - name: v2-mysql
        labels:
          version: v2-mysql
      - name: v2-mysql-vm
        labels:
          version: v2-mysql-vm
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: DestinationRule
    metadata:
      name: details
      namespace: e2e
    spec:
      host: details
      subsets:
      - name: v1
        labels:
          version: v1
      - name: v2
        labels:
          version: v2
";

/// Istio's `samples/bookinfo/networking/virtual-service-all-v1.yaml`.
const VIRTUAL_SERVICE_ALL_V1: &str = "
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: productpage
      namespace: e2e
    spec:
      hosts:
      - productpage
      http:
      - route:
        - destination:
            host: productpage
            subset: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: reviews
      namespace: e2e
    spec:
      hosts:
      - reviews
      http:
      - route:
        - destination:
            host: reviews
            subset: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: ratings
      namespace: e2e
    spec:
      hosts:
      - ratings
      http:
      - route:
        - destination:
            host: ratings
            subset: v1
    ---
    apiVersion: networking.istio.io/v1alpha3
    kind: VirtualService
    metadata:
      name: details
      namespace: e2e
    spec:
      hosts:
      - details
      http:
      - route:
        - destination:
            host: details
            subset: v1
";

/// Bookinfo's services: productpage, reviews (v1, v2, v3), ratings and details (v1).
async fn bookinfo(mesh: &mut Mesh) {
    for (service, versions) in [
        ("productpage", &["v1"][..]),
        ("reviews", &["v1", "v2", "v3"][..]),
        ("ratings", &["v1"][..]),
        ("details", &["v1"][..]),
    ] {
        let backends: Vec<Backend> = versions
            .iter()
            .map(|v| Backend::version(&format!("{service}-{v}"), v))
            .collect();
        mesh.add_service(service, &backends).await;
    }
}

/// The client's WorkloadEntry and a `Sidecar` with `REGISTRY_ONLY` and one egress
/// listener bound to the client's address (`captureMode: NONE`): `port` and `hosts`
/// as given, in flow style.
fn registry_only_client(mesh: &Mesh, port: &str, hosts: &str) -> String {
    let client_ip = mesh.ip(2);
    format!(
        "
        apiVersion: networking.istio.io/v1
        kind: WorkloadEntry
        metadata: {{name: client-0, namespace: e2e}}
        spec: {{address: {client_ip}, labels: {{app: client}}, serviceAccount: client}}
        ---
        apiVersion: networking.istio.io/v1
        kind: Sidecar
        metadata:
          name: client
          namespace: e2e
        spec:
          workloadSelector:
            labels:
              app: client
          egress:
          - port: {port}
            bind: {client_ip}
            captureMode: NONE
            hosts: {hosts}
          outboundTrafficPolicy:
            mode: REGISTRY_ONLY
        "
    )
}

fn only(counts: &BTreeMap<String, u64>) -> Vec<&str> {
    counts.keys().map(String::as_str).collect()
}

mod egress;
mod request_routing;
mod resilience;
mod tcp;
mod traffic_policy;
