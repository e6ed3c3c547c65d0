use crate::analysis::cases::{Case, check};

pub(crate) const CASES: &[Case] = &[
    Case::new(
        "injection webhooks that overlap, and one calling a Service that does not exist",
        "apiVersion: v1
kind: Service
metadata: {name: istiod, namespace: istio-system, labels: {istio: pilot}}
spec: {ports: [{name: https-webhook, port: 443}]}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: namespace.sidecar-injector.istio.io
  clientConfig: {service: {name: istiod, namespace: istio-system}}
  namespaceSelector:
    matchExpressions: [{key: istio-injection, operator: In, values: [enabled]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector-overlap}
webhooks:
- name: namespace.sidecar-injector.istio.io
  clientConfig: {service: {name: istiod-canary, namespace: istio-system}}
  namespaceSelector:
    matchExpressions: [{key: istio-injection, operator: Exists}]
",
        &[
            "IST0139 MutatingWebhookConfiguration istio-sidecar-injector: Webhook overlaps with others: [istio-sidecar-injector-overlap/namespace.sidecar-injector.istio.io]. This may cause injection to occur twice.",
            "IST0139 MutatingWebhookConfiguration istio-sidecar-injector-overlap: Webhook overlaps with others: [istio-sidecar-injector/namespace.sidecar-injector.istio.io]. This may cause injection to occur twice.",
            "IST0139 MutatingWebhookConfiguration istio-sidecar-injector-overlap: Injector refers to a control plane service that does not exist: istio-system/istiod-canary.",
        ],
    ),
    Case::new(
        "webhooks of an external control plane: blank, not a URL, an IP address, a hostname",
        "apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: istio-validator-external-istiod}
webhooks:
- name: rev.validation.istio.io
  clientConfig: {}
- name: bad.validation.istio.io
  clientConfig: {url: 'https://istiod example.com/validate'}
- name: good.validation.istio.io
  clientConfig: {url: 'https://istiod.example.com:15017/validate'}
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector-external-istiod}
webhooks:
- name: rev.namespace.sidecar-injector.istio.io
  clientConfig: {url: 'https://10.1.2.3:15017/inject'}
  namespaceSelector: {matchLabels: {istio.io/rev: external}}
",
        &[
            "IST0163 ValidatingWebhookConfiguration istio-validator-external-istiod: The hostname () that was provided for the webhook (rev.validation.istio.io) to reach the ingress gateway on the external control plane cluster is blank. Traffic may not flow properly.",
            "IST0163 ValidatingWebhookConfiguration istio-validator-external-istiod: The hostname (https://istiod example.com/validate) that was provided for the webhook (bad.validation.istio.io) to reach the ingress gateway on the external control plane cluster was provided in an invalid format. Traffic may not flow properly.",
            "IST0164 MutatingWebhookConfiguration istio-sidecar-injector-external-istiod: The address (https://10.1.2.3:15017/inject) that was provided for the webhook (rev.namespace.sidecar-injector.istio.io) to reach the ingress gateway on the external control plane cluster is an IP address. This is not recommended for a production environment.",
        ],
    ),
];

#[test]
fn webhook_cases() {
    check(CASES);
}
