use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "selectors that pick nothing, pick a workload twice, or pick a WorkloadEntry",
        "apiVersion: v1
kind: Pod
metadata: {name: app-0, labels: {app: app, version: v1}}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other-0, namespace: other, labels: {app: other}}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-0}
spec: {address: 10.0.0.5, labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: maps-to-nothing}
spec: {workloadSelector: {labels: {app: bogus}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: other-namespace}
spec: {workloadSelector: {labels: {app: other}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: by-app}
spec: {workloadSelector: {labels: {app: app}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: by-version}
spec: {workloadSelector: {labels: {version: v1}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: vm}
spec: {workloadSelector: {labels: {app: vm}}}
",
        &[
            "IST0101 Sidecar default/maps-to-nothing: Referenced selector not found: \"app=bogus\"",
            "IST0101 Sidecar default/other-namespace: Referenced selector not found: \"app=other\"",
            "IST0110 Sidecar default/by-app: The Sidecars [by-app by-version] in namespace \"default\" select the same workload pod \"app-0\", which can lead to undefined behavior.",
            "IST0110 Sidecar default/by-version: The Sidecars [by-app by-version] in namespace \"default\" select the same workload pod \"app-0\", which can lead to undefined behavior.",
        ],
    ),
    Case::new(
        "namespace-wide Sidecars: two in a namespace conflict; in ambient mode they do nothing",
        "apiVersion: v1
kind: Namespace
metadata:
  name: mesh-ambient
  labels: {istio.io/dataplane-mode: ambient}
---
apiVersion: v1
kind: Pod
metadata:
  name: ztunnel-captured
  namespace: ns1
  labels: {app: captured}
  annotations: {ambient.istio.io/redirection: enabled}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: a, namespace: ns2}
spec: {egress: [{hosts: ['./*']}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: b, namespace: ns2}
spec: {egress: [{hosts: ['istio-system/*']}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: only, namespace: ns1}
spec: {egress: [{hosts: ['./*']}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: pod-scoped, namespace: ns1}
spec: {workloadSelector: {labels: {app: captured}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: namespace-scoped, namespace: mesh-ambient}
spec: {egress: [{hosts: ['./*']}]}
",
        &[
            "IST0111 Sidecar ns2/a: The Sidecars [a b] in namespace \"ns2\" have no workload selector, which can lead to undefined behavior.",
            "IST0111 Sidecar ns2/b: The Sidecars [a b] in namespace \"ns2\" have no workload selector, which can lead to undefined behavior.",
            "IST0167 Sidecar ns1/pod-scoped: The policy has no impact: selected workload is in ambient mode, the policy has no impact.",
            "IST0167 Sidecar mesh-ambient/namespace-scoped: The policy has no impact: namespace is in ambient mode, the policy has no impact.",
        ],
    ),
];

#[test]
fn sidecar_cases() {
    check(CASES);
}
