//! Who a proxy is: Istio's node id and metadata, parsed from the xDS `Node`.
//!
//! Node id: `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local` (or
//! `router~…` for gateways). Metadata keys as Istio's: `NAMESPACE`, `LABELS`,
//! `SERVICE_ACCOUNT`, `INSTANCE_IPS`, `WORKLOAD_NAME`.

use std::collections::BTreeMap;
use std::fmt;

/// The role of a proxy, from the first field of its node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyKind {
    Sidecar,
    Router,
}

/// A proxy's identity, as the translator needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProxyNode {
    /// The node id as sent (`sidecar~10.0.0.1~reviews-v1-0.bookinfo~bookinfo.svc.cluster.local`).
    pub id: String,
    pub kind: ProxyKind,
    /// The proxy's IP addresses; the first is the one in the node id.
    pub ips: Vec<String>,
    /// Pod (or WorkloadEntry) name.
    pub workload_name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
    /// Whether the proxy has a workload identity served over SDS (node metadata
    /// `SDS: "true"`, the key Istio 1.5 used for the same question). Without it the
    /// translator emits no mTLS: a proxy that cannot get `default`/`ROOTCA` speaks
    /// plain text, and its STRICT ports take nothing.
    pub sds: bool,
}

/// Why a node cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error(
        "node id {0:?} is not in Istio's form `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`; \
         generate the bootstrap with `meshctl bootstrap envoy`"
    )]
    MalformedId(String),
    #[error("node id {id:?}: unknown proxy type {kind:?}; use `sidecar` or `router`")]
    UnknownKind { id: String, kind: String },
}

impl ProxyNode {
    /// Parses the node id and reads Istio's metadata keys from the node's metadata
    /// (`metadata` is the `google.protobuf.Struct` of the xDS `Node`, as JSON).
    pub fn parse(id: &str, metadata: &serde_json::Value) -> Result<ProxyNode, NodeError> {
        let parts: Vec<&str> = id.split('~').collect();
        let [kind, ip, pod_dot_ns, _domain] = parts.as_slice() else {
            return Err(NodeError::MalformedId(id.to_string()));
        };
        let kind = match *kind {
            "sidecar" => ProxyKind::Sidecar,
            "router" => ProxyKind::Router,
            other => {
                return Err(NodeError::UnknownKind {
                    id: id.to_string(),
                    kind: other.to_string(),
                });
            }
        };
        let (pod, ns_from_id) = pod_dot_ns
            .rsplit_once('.')
            .ok_or_else(|| NodeError::MalformedId(id.to_string()))?;
        if ip.is_empty() || pod.is_empty() || ns_from_id.is_empty() {
            return Err(NodeError::MalformedId(id.to_string()));
        }
        let string = |key: &str| {
            metadata
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let labels = metadata
            .get("LABELS")
            .and_then(|v| v.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let mut ips = vec![ip.to_string()];
        if let Some(more) = string("INSTANCE_IPS") {
            ips.extend(
                more.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s != ip)
                    .map(str::to_string),
            );
        }
        Ok(ProxyNode {
            id: id.to_string(),
            kind,
            ips,
            workload_name: string("WORKLOAD_NAME").unwrap_or_else(|| pod.to_string()),
            namespace: string("NAMESPACE").unwrap_or_else(|| ns_from_id.to_string()),
            labels,
            service_account: string("SERVICE_ACCOUNT"),
            sds: match metadata.get("SDS") {
                Some(serde_json::Value::Bool(b)) => *b,
                Some(serde_json::Value::String(s)) => s == "true",
                _ => false,
            },
        })
    }

    /// Istio's node id for a sidecar.
    pub fn sidecar_id(ip: &str, pod: &str, namespace: &str) -> String {
        format!("sidecar~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local")
    }

    /// `pod.namespace`, the short name users give to `meshctl proxy-config`.
    pub fn short_name(&self) -> String {
        format!("{}.{}", self.workload_name, self.namespace)
    }
}

impl fmt::Display for ProxyNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_istio_sidecar_ids_and_metadata() {
        let meta = serde_json::json!({
            "NAMESPACE": "bookinfo",
            "LABELS": {"app": "reviews", "version": "v1"},
            "SERVICE_ACCOUNT": "bookinfo-reviews",
            "INSTANCE_IPS": "10.0.0.1,fd00::1",
        });
        let node = ProxyNode::parse(
            "sidecar~10.0.0.1~reviews-v1-0.bookinfo~bookinfo.svc.cluster.local",
            &meta,
        )
        .unwrap();
        assert_eq!(node.kind, ProxyKind::Sidecar);
        assert_eq!(node.ips, ["10.0.0.1", "fd00::1"]);
        assert_eq!(node.short_name(), "reviews-v1-0.bookinfo");
        assert_eq!(node.labels["version"], "v1");
        assert_eq!(node.service_account.as_deref(), Some("bookinfo-reviews"));
    }

    #[test]
    fn rejects_ids_not_in_istio_form_with_what_to_do() {
        let err = ProxyNode::parse("my-envoy", &serde_json::Value::Null).unwrap_err();
        assert!(err.to_string().contains("meshctl bootstrap envoy"), "{err}");
        assert!(matches!(
            ProxyNode::parse(
                "gateway~1.2.3.4~a.b~b.svc.cluster.local",
                &serde_json::Value::Null
            ),
            Err(NodeError::UnknownKind { .. })
        ));
    }
}
