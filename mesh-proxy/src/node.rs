//! The xDS node this proxy presents: Istio's node id and metadata, exactly as
//! `meshctl bootstrap envoy` writes them for Envoy, so that the control plane treats
//! both alike. What the node *claims*; a verified SPIFFE identity is another thing.

use std::collections::BTreeMap;
use std::net::IpAddr;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use serde::Serialize;

/// What the proxy is to the control plane: the first part of Istio's node id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProxyType {
    /// A workload's sidecar (`sidecar~…`).
    #[default]
    Sidecar,
    /// A gateway (`router~…`), as Istio's ingress and egress gateways.
    Router,
}

/// The workload a sidecar serves, as its node metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeMetadata {
    pub proxy_type: ProxyType,
    pub pod: String,
    pub namespace: String,
    pub ip: IpAddr,
    pub service_account: String,
    pub labels: BTreeMap<String, String>,
    pub cluster_id: String,
    pub cluster_domain: String,
}

impl NodeMetadata {
    /// `sidecar~<ip>~<pod>.<ns>~<ns>.svc.<domain>` (`router~…` for a gateway).
    pub fn node_id(&self) -> String {
        let kind = match self.proxy_type {
            ProxyType::Sidecar => "sidecar",
            ProxyType::Router => "router",
        };
        format!(
            "{kind}~{}~{}.{ns}~{ns}.svc.{}",
            self.ip,
            self.pod,
            self.cluster_domain,
            ns = self.namespace
        )
    }

    /// The xDS node: id, Istio's service cluster (`app` label or pod, dot namespace)
    /// and Istio's metadata keys.
    pub fn node(&self) -> Node {
        let s = |v: &str| Value {
            kind: Some(Kind::StringValue(v.to_string())),
        };
        let labels = Struct {
            fields: self.labels.iter().map(|(k, v)| (k.clone(), s(v))).collect(),
        };
        let ip = self.ip.to_string();
        let fields = [
            ("NAMESPACE", s(&self.namespace)),
            (
                "LABELS",
                Value {
                    kind: Some(Kind::StructValue(labels)),
                },
            ),
            ("SERVICE_ACCOUNT", s(&self.service_account)),
            ("INSTANCE_IPS", s(&ip)),
            ("WORKLOAD_NAME", s(&self.pod)),
            ("CLUSTER_ID", s(&self.cluster_id)),
            ("DNS_DOMAIN", s(&self.cluster_domain)),
            ("MESH_VERSION", s(env!("CARGO_PKG_VERSION"))),
        ];
        let app = self.labels.get("app").unwrap_or(&self.pod);
        Node {
            id: self.node_id(),
            cluster: format!("{app}.{}", self.namespace),
            metadata: Some(Struct {
                fields: fields
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            }),
            user_agent_name: "mesh-proxy".to_string(),
            ..Default::default()
        }
    }
}

/// `name.namespace` → (name, namespace).
pub fn parse_workload(workload: &str) -> Result<(String, String), String> {
    match workload.split_once('.') {
        Some((pod, ns)) if !pod.is_empty() && !ns.is_empty() && !ns.contains('.') => {
            Ok((pod.to_string(), ns.to_string()))
        }
        _ => Err(format!("--workload {workload:?}: expected NAME.NAMESPACE")),
    }
}

/// `k=v,k2=v2` → labels.
pub fn parse_labels(labels: &str) -> Result<BTreeMap<String, String>, String> {
    labels
        .split(',')
        .map(str::trim)
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("--labels: {kv:?} is not KEY=VALUE")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_and_metadata_match_meshctl_bootstrap() {
        let id = NodeMetadata {
            proxy_type: ProxyType::Sidecar,
            pod: "client-0".into(),
            namespace: "e2e".into(),
            ip: "10.0.0.2".parse().expect("ip"),
            service_account: "client".into(),
            labels: parse_labels("app=client,version=v1").expect("labels"),
            cluster_id: "Kubernetes".into(),
            cluster_domain: "cluster.local".into(),
        };
        assert_eq!(
            id.node_id(),
            "sidecar~10.0.0.2~client-0.e2e~e2e.svc.cluster.local"
        );
        let node = id.node();
        assert_eq!(node.cluster, "client.e2e");
        let meta = node.metadata.expect("metadata").fields;
        for key in [
            "NAMESPACE",
            "LABELS",
            "SERVICE_ACCOUNT",
            "INSTANCE_IPS",
            "WORKLOAD_NAME",
            "CLUSTER_ID",
        ] {
            assert!(meta.contains_key(key), "{key}");
        }
    }

    #[test]
    fn a_gateway_presents_itself_as_a_router() {
        let gateway = NodeMetadata {
            proxy_type: ProxyType::Router,
            pod: "mesh-ingress-7d9f".into(),
            namespace: "mesh-ingress".into(),
            ip: "10.0.0.9".parse().expect("ip"),
            service_account: "mesh-ingress".into(),
            labels: BTreeMap::new(),
            cluster_id: "Kubernetes".into(),
            cluster_domain: "cluster.local".into(),
        };
        assert_eq!(
            gateway.node_id(),
            "router~10.0.0.9~mesh-ingress-7d9f.mesh-ingress~mesh-ingress.svc.cluster.local"
        );
    }

    #[test]
    fn workload_needs_name_and_namespace() {
        assert_eq!(parse_workload("a.b"), Ok(("a".into(), "b".into())));
        assert!(parse_workload("a").is_err());
        assert!(parse_labels("x").is_err());
    }
}
