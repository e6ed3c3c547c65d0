use crate::analysis::cases::{Case, check};

const ANNOTATED: &str = "apiVersion: v1
kind: Service
metadata:
  name: httpbin
  annotations: {networking.istio.io/exportTo: '*', sidecar.istio.io/bogus: 'x', kubectl.kubernetes.io/last-applied-configuration: '{}'}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: invalid-annotations
  annotations: {sidecar.istio.io/interceptionMode: DNAT, traffic.sidecar.istio.io/excludeOutboundPorts: '80,web'}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: deprecated-inject
  annotations: {sidecar.istio.io/inject: 'false', sidecar.istio.io/status: '{}'}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: label-and-annotation
  labels: {sidecar.istio.io/inject: 'false'}
  annotations: {sidecar.istio.io/inject: 'false'}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: fortio
  annotations: {sidecar.istio.io/statsInclusionPrefixes: cluster.outbound}
spec:
  template:
    metadata: {annotations: {sidecar.istio.io/proxyCPU: 100m}}
    spec: {containers: [{name: fortio, image: fortio}]}
---
apiVersion: v1
kind: Namespace
metadata:
  name: staging
  labels: {istio-injection: disabled}
  annotations: {sidecar.istio.io/proxyImage: proxyv2}
---
apiVersion: v1
kind: Pod
metadata:
  name: quiet
  annotations: {galley.istio.io/analyze-suppress: IST0108, sidecar.istio.io/nonsense: x}
spec: {containers: [{name: app, image: app}]}
";

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "unknown, invalid, deprecated and misplaced annotations; suppression by annotation",
        ANNOTATED,
        &[
            "IST0108 Service default/httpbin: Unknown annotation: sidecar.istio.io/bogus",
            "IST0125 Pod default/invalid-annotations: Invalid annotation sidecar.istio.io/interceptionMode: interceptionMode invalid, use REDIRECT,TPROXY,NONE: DNAT",
            "IST0125 Pod default/invalid-annotations: Invalid annotation traffic.sidecar.istio.io/excludeOutboundPorts: excludeOutboundPorts invalid: failed parsing port \"web\"",
            "IST0135 Pod default/deprecated-inject: Annotation \"sidecar.istio.io/inject\" has been deprecated in favor of the \"sidecar.istio.io/inject\" label and may not work in future Istio versions.",
            "IST0107 Deployment default/fortio: Misplaced annotation: sidecar.istio.io/statsInclusionPrefixes can only be applied to Pod",
            "IST0135 Deployment default/fortio: Annotation \"sidecar.istio.io/statsInclusionPrefixes\" has been deprecated and may not work in future Istio versions.",
            "IST0107 Namespace staging: Misplaced annotation: sidecar.istio.io/proxyImage can only be applied to Pod",
        ],
    ),
    Case::new(
        "alpha-phase annotations, when asked for",
        "apiVersion: v1
kind: Pod
metadata:
  name: alpha
  annotations: {sidecar.istio.io/proxyCPU: 100m, sidecar.istio.io/interceptionMode: REDIRECT, proxy.istio.io/config: '{}'}
spec: {containers: [{name: app, image: app}]}
",
        &[
            "IST0136 Pod default/alpha: Annotation \"sidecar.istio.io/proxyCPU\" is part of an alpha-phase feature and may be incompletely supported.",
        ],
    )
    .with_alpha_annotations(),
];

#[test]
fn annotation_cases() {
    check(CASES);
}
