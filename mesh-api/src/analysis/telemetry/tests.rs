use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "access logging without providers, selectors that pick nothing or the same pod, two without selector",
        "apiVersion: v1
kind: Pod
metadata: {name: app-0, labels: {app: app, version: v1}}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{providers: []}, {disabled: true}, {providers: [{name: envoy}]}]
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: maps-to-nonexistent}
spec: {selector: {matchLabels: {app: bogus}}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: dupe-1}
spec: {selector: {matchLabels: {app: app}}}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: dupe-2}
spec: {selector: {matchLabels: {version: v1}}}
---
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: has-conflict-1, namespace: ns2}
spec: {tracing: [{randomSamplingPercentage: 10}]}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: has-conflict-2, namespace: ns2}
spec: {metrics: [{providers: [{name: prometheus}]}]}
",
        &[
            "IST0157 Telemetry istio-system/mesh-default: The Telemetry mesh-default in namespace \"istio-system\" with empty providers will be ignored.",
            "IST0101 Telemetry default/maps-to-nonexistent: Referenced selector not found: \"app=bogus\"",
            "IST0159 Telemetry default/dupe-1: The Telemetries [dupe-1 dupe-2] in namespace \"default\" select the same workload pod \"app-0\", which can lead to undefined behavior.",
            "IST0159 Telemetry default/dupe-2: The Telemetries [dupe-1 dupe-2] in namespace \"default\" select the same workload pod \"app-0\", which can lead to undefined behavior.",
            "IST0160 Telemetry ns2/has-conflict-1: The Telemetries [has-conflict-1 has-conflict-2] in namespace \"ns2\" have no workload selector, which can lead to undefined behavior.",
            "IST0160 Telemetry ns2/has-conflict-2: The Telemetries [has-conflict-1 has-conflict-2] in namespace \"ns2\" have no workload selector, which can lead to undefined behavior.",
        ],
    ),
    Case::new(
        "default access log providers in the mesh config make empty providers fine",
        "apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging: [{}]
",
        &[],
    )
    .with_mesh_config("defaultProviders: {accessLogging: [envoy]}\n"),
];

#[test]
fn telemetry_cases() {
    check(CASES);
}
