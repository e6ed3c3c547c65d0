//! The objects `istioctl analyze` assumes when it analyzes files without a cluster:
//! the ingress gateway's Service and a Pod standing for its workload, in the Istio
//! namespace. Without them every Gateway selecting `istio: ingressgateway` would be
//! reported as selecting nothing.

use super::input::{InputKind, InputObject};
use crate::manifest::{FieldLines, read_documents};

/// Name of the default ingress gateway Service (mesh config's `ingressService`).
pub(crate) const INGRESS_SERVICE: &str = "istio-ingressgateway";

/// The default objects, for `namespace` (the Istio namespace).
pub(crate) fn default_entries(namespace: &str) -> Vec<InputObject> {
    let text = format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {INGRESS_SERVICE}-dummypod
  namespace: {namespace}
  labels: {{istio: ingressgateway}}
spec:
  containers:
  - name: istio-proxy
---
apiVersion: v1
kind: Service
metadata:
  name: {INGRESS_SERVICE}
  namespace: {namespace}
spec:
  selector: {{istio: ingressgateway}}
  ports:
  - {{name: http2, port: 80, targetPort: 80, protocol: TCP}}
  - {{name: https, port: 443, targetPort: 443, protocol: TCP}}
  - {{name: tcp, port: 31400, targetPort: 31400, protocol: TCP}}
  - {{name: tls, port: 15443, targetPort: 15443, protocol: TCP}}
"
    );
    let (documents, _) = read_documents("<default>", &text);
    documents
        .into_iter()
        .filter_map(|doc| {
            let kind = InputKind::from_type_meta(&doc.api_version, &doc.kind)?;
            let mut entry = InputObject::from_document(kind, doc);
            // Not from the user's files: messages about them name no file.
            entry.location = None;
            entry.lines = FieldLines::default();
            Some(entry)
        })
        .collect()
}
