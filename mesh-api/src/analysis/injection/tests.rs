use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "namespaces and their labels; pods of injected namespaces without sidecar",
        "apiVersion: v1
kind: Namespace
metadata: {name: bar}
---
apiVersion: v1
kind: Namespace
metadata: {name: injected, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: mesh-labelled, labels: {mesh.dev/inject: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: opted-out, labels: {istio-injection: disabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: busted, labels: {istio-injection: enabled, istio.io/rev: canary}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ambient, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Namespace
metadata: {name: revisioned, labels: {istio.io/rev: canary}}
---
apiVersion: v1
kind: Pod
metadata: {name: noninjected, namespace: injected}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata: {name: injected, namespace: injected}
spec: {containers: [{name: app, image: app}, {name: istio-proxy, image: docker.io/istio/proxyv2:1.28.0}]}
---
apiVersion: v1
kind: Pod
metadata: {name: mesh-native, namespace: mesh-labelled}
spec:
  initContainers:
  - {name: mesh-redirect, image: ghcr.io/mesh-dev/mesh-proxy:0.1.0}
  - {name: mesh-proxy, image: ghcr.io/mesh-dev/mesh-proxy:0.1.0, restartPolicy: Always}
  containers: [{name: app, image: app}]
---
apiVersion: v1
kind: Pod
metadata: {name: opted-out, namespace: injected, labels: {sidecar.istio.io/inject: 'false'}}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata: {name: host-network, namespace: injected}
spec: {hostNetwork: true, containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata: {name: universal, namespace: mesh-labelled}
spec: {containers: [{name: app, image: app}]}
---
apiVersion: v1
kind: Pod
metadata: {name: not-injected, namespace: bar}
spec: {containers: [{name: app, image: app}]}
",
        &[
            "IST0102 Namespace bar: The namespace is not enabled for Istio injection. Run 'kubectl label namespace bar istio-injection=enabled' to enable it, or 'kubectl label namespace bar istio-injection=disabled' to explicitly mark it as not needing injection.",
            "IST0103 Pod injected/noninjected: The pod injected/noninjected is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
            "IST0103 Pod mesh-labelled/universal: The pod mesh-labelled/universal is missing the Istio proxy. This can often be resolved by restarting or redeploying the workload.",
            "IST0123 Namespace busted: The namespace has more than one type of injection labels [istio-injection=enabled istio.io/rev=canary], which may lead to undefined behavior. Make sure only one injection label exists.",
        ],
    ),
    Case::new(
        "an injector that enables namespaces by default",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: '{\"sidecarInjectorWebhook\": {\"enableNamespacesByDefault\": true}}'
---
apiVersion: v1
kind: Namespace
metadata: {name: bar}
",
        &[
            "IST0148 Namespace bar: is enabled for Istio injection, as Istio is installed with enableNamespacesByDefault as true.",
        ],
    ),
    Case::new(
        "sidecar images that differ from the injector's, and image: auto outside injection",
        "apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: '{\"global\": {\"hub\": \"docker.io/istio\", \"tag\": \"1.28.0\", \"proxy\": {\"image\": \"proxyv2\"}}}'
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: current, namespace: shop}
spec: {containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.28.0}]}
---
apiVersion: v1
kind: Pod
metadata: {name: distroless, namespace: shop, annotations: {proxy.istio.io/config: 'image: {imageType: distroless}'}}
spec: {containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.28.0-distroless}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stale-b, namespace: shop}
spec: {containers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.27.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stale-a, namespace: shop}
spec: {initContainers: [{name: istio-proxy, image: docker.io/istio/proxyv2:1.26.0}]}
---
apiVersion: v1
kind: Pod
metadata: {name: manual, namespace: default}
spec: {containers: [{name: istio-proxy, image: auto}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: gateway, namespace: default}
spec:
  template:
    metadata: {labels: {app: gateway}}
    spec: {containers: [{name: istio-proxy, image: auto}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: namespace.sidecar-injector.istio.io
  clientConfig: {url: 'https://istiod.example.com:15017/inject'}
  namespaceSelector: {matchLabels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: injected-gateway, namespace: shop}
spec:
  template:
    metadata: {labels: {app: gateway}}
    spec: {containers: [{name: istio-proxy, image: auto}]}
",
        &[
            "IST0158 Namespace shop: The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: [stale-a stale-b]). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.",
            "IST0147 Pod default/manual: Pod manual contains `image: auto` but does not match any Istio injection webhook selectors.",
            "IST0146 Deployment default/gateway: Deployment gateway contains `image: auto` but does not match any Istio injection webhook selectors.",
        ],
    ),
];

#[test]
fn injection_cases() {
    check(CASES);
}
