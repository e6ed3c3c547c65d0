//! Translating a mesh of 1,000 services and 10,000 endpoints (each service with a
//! VirtualService and a DestinationRule with two subsets) for one proxy.
//!
//! `cargo bench -p mesh-control --bench translate`

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use mesh_api::manifest::parse_file;
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_control::xds::node::ProxyNode;
use mesh_control::xds::translate::{translate, translate_endpoints};

const SERVICES: usize = 1_000;
const ENDPOINTS_PER_SERVICE: usize = 10;
const NAMESPACE: &str = "bench";

/// The mesh as manifests: per service a Service, its WorkloadEntries (half `v1`,
/// half `v2`), a VirtualService splitting 90/10 with retries, and a DestinationRule.
fn manifests() -> String {
    let mut out = String::new();
    for s in 0..SERVICES {
        let (hi, lo) = (s / 250, s % 250);
        let _ = write!(
            out,
            "apiVersion: v1\nkind: Service\nmetadata: {{name: svc-{s}, namespace: {NAMESPACE}}}\n\
             spec:\n  clusterIP: 10.96.{hi}.{lo}\n  selector: {{app: svc-{s}}}\n  \
             ports: [{{name: http, port: 8080}}]\n---\n"
        );
        for e in 0..ENDPOINTS_PER_SERVICE {
            let version = if e % 2 == 0 { "v1" } else { "v2" };
            let _ = write!(
                out,
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
                 metadata: {{name: svc-{s}-{e}, namespace: {NAMESPACE}}}\n\
                 spec: {{address: 10.{}.{}.{e}, labels: {{app: svc-{s}, version: {version}}}}}\n---\n",
                10 + hi,
                lo
            );
        }
        let _ = write!(
            out,
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: svc-{s}, namespace: {NAMESPACE}}}\n\
             spec:\n  hosts: [svc-{s}]\n  http:\n  \
             - match: [{{headers: {{x-canary: {{exact: \"1\"}}}}}}]\n    \
             route: [{{destination: {{host: svc-{s}, subset: v2}}}}]\n  \
             - route:\n    - {{destination: {{host: svc-{s}, subset: v1}}, weight: 90}}\n    \
             - {{destination: {{host: svc-{s}, subset: v2}}, weight: 10}}\n    \
             retries: {{attempts: 3, perTryTimeout: 1s}}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata: {{name: svc-{s}, namespace: {NAMESPACE}}}\n\
             spec:\n  host: svc-{s}\n  trafficPolicy:\n    \
             connectionPool: {{http: {{http1MaxPendingRequests: 100}}}}\n    \
             outlierDetection: {{consecutive5xxErrors: 5}}\n  \
             subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]\n---\n"
        );
    }
    out
}

fn model() -> MeshModel {
    let parsed = parse_file("bench.yaml", &manifests());
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let objects = parsed.objects.into_iter().map(|p| Arc::new(p.object));
    MeshModel::build(objects, MeshSettings::default())
}

fn bench_translate(c: &mut Criterion) {
    let model = model();
    let endpoints: usize = model.services.values().map(|s| s.endpoints.len()).sum();
    assert_eq!(
        (model.services.len(), endpoints),
        (SERVICES, SERVICES * ENDPOINTS_PER_SERVICE)
    );
    let proxy = ProxyNode {
        id: ProxyNode::sidecar_id("10.10.0.0", "svc-0-0", NAMESPACE),
        kind: mesh_control::xds::node::ProxyKind::Sidecar,
        ips: vec!["10.10.0.0".to_string()],
        workload_name: "svc-0-0".to_string(),
        namespace: NAMESPACE.to_string(),
        labels: Default::default(),
        service_account: None,
        sds: true,
    };
    let r = translate(&model, &proxy);
    eprintln!(
        "one proxy: {} listeners, {} route configs, {} clusters, {} load assignments",
        r.listeners.len(),
        r.routes.len(),
        r.clusters.len(),
        r.endpoints.len()
    );
    let mut group = c.benchmark_group("translate");
    group.sample_size(20);
    group.bench_function("1000_services_10000_endpoints_one_proxy", |b| {
        b.iter(|| translate(black_box(&model), black_box(&proxy)))
    });
    group.bench_function(
        "1000_services_10000_endpoints_one_proxy_endpoints_only",
        |b| b.iter(|| translate_endpoints(black_box(&model), black_box(&proxy))),
    );
    group.finish();
}

criterion_group!(benches, bench_translate);
criterion_main!(benches);
