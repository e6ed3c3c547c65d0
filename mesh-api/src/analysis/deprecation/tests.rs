use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "deprecated fields and removed kinds",
        "apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: foo}
spec: {ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productpage, namespace: foo}
spec:
  hosts: [productpage]
  http:
  - fault: {delay: {percent: 50, fixedDelay: 5s}}
    route: [{destination: {host: productpage}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: no-selector}
spec:
  outboundTrafficPolicy:
    mode: REGISTRY_ONLY
    egressProxy: {host: egress.example.com, port: {number: 443}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: serviceroles.rbac.istio.io}
spec:
  group: rbac.istio.io
  names: {kind: ServiceRole, plural: serviceroles}
  scope: Namespaced
",
        &[
            "IST0002 VirtualService foo/productpage: Deprecated: HTTPRoute.fault.delay.percent is deprecated; use HTTPRoute.fault.delay.percentage",
            "IST0002 Sidecar default/no-selector: Deprecated: OutboundTrafficPolicy.EgressProxy ignored",
            "IST0002 CustomResourceDefinition serviceroles.rbac.istio.io: Deprecated: Custom resource type rbac.istio.io ServiceRole is removed",
        ],
    ),
    Case::new(
        "tracing to a Lightstep provider",
        "apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{providers: [{name: lightstep}]}]
",
        &[
            "IST0002 Telemetry istio-system/mesh-default: Deprecated: The Lightstep provider lightstep is deprecated, please migrate to OpenTelemetry provider.",
        ],
    )
    .with_mesh_config("extensionProviders:\n- name: lightstep\n  lightstep: {address: collector:8184, accessToken: x}\n"),
];

#[test]
fn deprecation_cases() {
    check(CASES);
}
