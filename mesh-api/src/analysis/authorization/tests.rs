use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "policies without workloads, and namespaces that do not exist",
        "apiVersion: v1
kind: Namespace
metadata: {name: httpbin, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: httpbin-empty, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: frontend-prod, labels: {istio-injection: disabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin-0, namespace: httpbin, labels: {app: httpbin, version: v1}}
spec: {containers: [{name: httpbin, image: httpbin}, {name: istio-proxy, image: proxyv2}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews, namespace: httpbin}
spec:
  template:
    metadata: {labels: {app: reviews}}
    spec: {containers: [{name: reviews, image: reviews}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: meshwide-httpbin-v1, namespace: istio-system}
spec: {selector: {matchLabels: {app: httpbin, version: v2}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: meshwide, namespace: istio-system}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: namespace-wide, namespace: httpbin-empty}
spec: {action: ALLOW}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin-nopods, namespace: httpbin}
spec: {selector: {matchLabels: {app: bogus}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews, namespace: httpbin}
spec: {selector: {matchLabels: {app: reviews}}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: httpbin-namespaces, namespace: httpbin}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules:
  - from:
    - source: {namespaces: [bogus, 'frontend-*', '*-prod'], notNamespaces: [also-bogus]}
",
        &[
            "IST0127 AuthorizationPolicy istio-system/meshwide-httpbin-v1: No matching workloads for this resource with the following labels: app=httpbin,version=v2",
            "IST0127 AuthorizationPolicy httpbin-empty/namespace-wide: No matching workloads for this resource with the following labels: ",
            "IST0127 AuthorizationPolicy httpbin/httpbin-nopods: No matching workloads for this resource with the following labels: app=bogus",
            "IST0101 AuthorizationPolicy httpbin/httpbin-namespaces: Referenced namespace not found: \"bogus\"",
            "IST0101 AuthorizationPolicy httpbin/httpbin-namespaces: Referenced namespace not found: \"also-bogus\"",
        ],
    ),
    Case::new(
        "RequestAuthentications while istiod may fetch JWKS from anywhere",
        "apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod}}
spec:
  template:
    spec: {containers: [{name: discovery, image: pilot, env: [{name: PILOT_TRACE_SAMPLING, value: '1'}]}]}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  jwtRules: [{issuer: https://issuer.example, jwksUri: https://issuer.example/jwks}]
",
        &[
            "IST0175 Deployment istio-system/istiod: BLOCKED_CIDRS_IN_JWKS_URIS is not configured but 1 RequestAuthentication resource(s) exist (foo/jwt). Consider configuring it to restrict JWKS URI fetches to trusted networks.",
        ],
    ),
];

#[test]
fn authorization_cases() {
    check(CASES);
}
