use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "policies selecting a Gateway API gateway's pods by label",
        "apiVersion: v1
kind: Pod
metadata:
  name: gateway-istio-0
  labels: {gateway.networking.k8s.io/gateway-name: gateway, istio.io/gateway-name: gateway}
spec: {containers: [{name: istio-proxy, image: proxyv2}]}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra-ineffective}
spec:
  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: gateway}}
  jwtRules: [{issuer: https://issuer.example}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap-ineffective}
spec:
  selector: {matchLabels: {istio.io/gateway-name: gateway}}
  action: DENY
  rules: [{from: [{source: {ipBlocks: [10.0.0.1/32]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap-targeted}
spec:
  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: gateway}
  action: DENY
  rules: [{from: [{source: {ipBlocks: [10.0.0.1/32]}}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: telemetry-ineffective}
spec:
  selector: {matchLabels: {gateway.networking.k8s.io/gateway-name: gateway}}
  tracing: [{randomSamplingPercentage: 1}]
",
        &[
            "IST0166 RequestAuthentication default/ra-ineffective: Ineffective selector on Kubernetes Gateway gateway. Use the TargetRef field instead.",
            "IST0166 AuthorizationPolicy default/ap-ineffective: Ineffective selector on Kubernetes Gateway gateway. Use the TargetRef field instead.",
            "IST0166 Telemetry default/telemetry-ineffective: Ineffective selector on Kubernetes Gateway gateway. Use the TargetRef field instead.",
        ],
    ),
    Case::new(
        "Gateway API CRDs older than Istio needs",
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: tlsroutes.gateway.networking.k8s.io
  annotations: {gateway.networking.k8s.io/bundle-version: v1.4.0}
spec: {group: gateway.networking.k8s.io, names: {kind: TLSRoute, plural: tlsroutes}, scope: Namespaced}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: grpcroutes.gateway.networking.k8s.io
  annotations: {gateway.networking.k8s.io/bundle-version: v1.2.0-rc1}
spec: {group: gateway.networking.k8s.io, names: {kind: GRPCRoute, plural: grpcroutes}, scope: Namespaced}
",
        &[
            "IST0176 CustomResourceDefinition tlsroutes.gateway.networking.k8s.io: Gateway API CRD \"tlsroutes.gateway.networking.k8s.io\" is at version \"1.4.0\" but Istio requires at least \"1.5.0\"; resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version.",
        ],
    ),
];

#[test]
fn gateway_api_cases() {
    check(CASES);
}
