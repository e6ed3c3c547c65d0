//! What a proxy receives: Sidecar egress hosts, exportTo.

use super::*;

#[test]
fn sidecar_egress_hosts_scope_what_a_proxy_receives() {
    let sidecar = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec:
  egress:
  - hosts: ["./*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"#;
    let model = model_of(&[("features.yaml", FEATURES), ("sidecar.yaml", sidecar)]);
    let r = translate(&model, &proxy("10.20.0.1", "client-0", "shop"));
    assert!(
        !r.clusters
            .iter()
            .any(|c| c.name.contains("billing.finance"))
    );
    assert!(r.clusters.iter().any(|c| c.name.contains(WEB)));
    let fallback = virtual_host(&r, "80", "block_all");
    assert!(matches!(
        fallback.routes[0].action,
        Some(route::Action::DirectResponse(_))
    ));
    // Mirrors to a host outside the scope still name its cluster (503 at run time).
    let selecting = r#"
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: client, namespace: shop}
spec:
  workloadSelector: {labels: {app: client}}
  egress:
  - hosts: ["finance/billing.finance.svc.cluster.local"]
"#;
    let model = model_of(&[
        ("features.yaml", FEATURES),
        ("sidecar.yaml", sidecar),
        ("s2.yaml", selecting),
    ]);
    let r = translate(&model, &proxy("10.20.0.1", "client-0", "shop"));
    let outbound: Vec<&str> = r
        .clusters
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| n.starts_with("outbound|"))
        .collect();
    assert_eq!(
        outbound,
        ["outbound|80||billing.finance.svc.cluster.local"],
        "the selecting Sidecar wins"
    );
}

#[test]
fn export_to_hides_services_from_other_namespaces() {
    let svc = r#"
apiVersion: v1
kind: Service
metadata: {name: private, namespace: a, annotations: {networking.istio.io/exportTo: "."}}
spec: {clusterIP: 10.96.9.1, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: c, namespace: b}
spec: {address: 10.9.9.9}
"#;
    let model = model_of(&[("f.yaml", svc)]);
    let r = translate(&model, &proxy("10.9.9.9", "c", "b"));
    assert!(!r.clusters.iter().any(|c| c.name.contains("private")));
    let r = translate(&model, &proxy("10.9.9.8", "d", "a"));
    assert!(r.clusters.iter().any(|c| c.name.contains("private")));
}
