//! The YAML a cluster writes and reads: Services (whose names pods resolve and which
//! get a clusterIP when they have none) and the WorkloadEntry that stands for a pod
//! in universal mode. Pure functions, no files.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_norway::Value;

use super::spec::{PodSpec, TLS_MODE_LABEL};

/// The part of a v1 Service that name resolution needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: String,
    pub namespace: String,
    pub cluster_ip: ClusterIp,
    pub selector: BTreeMap<String, String>,
}

/// A Service's `clusterIP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterIp {
    /// The virtual IP its names resolve to.
    Vip(Ipv4Addr),
    /// `clusterIP: None`: its names resolve to the selected pods' IPs.
    Headless,
}

/// A manifest file as it is written to the control plane, and its Services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedManifest {
    pub yaml: String,
    pub services: Vec<ServiceRecord>,
}

impl ServiceRecord {
    /// `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`; the short name
    /// only for pods of the same namespace (the resolver's search path).
    pub fn hostnames(&self, from_namespace: &str) -> Vec<String> {
        let (n, ns) = (&self.name, &self.namespace);
        let mut names = Vec::with_capacity(4);
        if ns == from_namespace {
            names.push(n.clone());
        }
        names.extend([
            format!("{n}.{ns}"),
            format!("{n}.{ns}.svc"),
            format!("{n}.{ns}.svc.cluster.local"),
        ]);
        names
    }

    /// Whether the Service selects a pod with `labels` in `namespace`.
    pub fn selects(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        namespace == self.namespace
            && !self.selector.is_empty()
            && self.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// Finds the v1 Services in `yaml` and gives each one without a `clusterIP` an address
/// from `allocate`, as the API server would; the YAML is rewritten only then (so the
/// control plane's line numbers stay right otherwise). YAML that does not parse is
/// passed on unchanged, for the control plane to report.
pub fn prepare(yaml: &str, mut allocate: impl FnMut() -> Ipv4Addr) -> PreparedManifest {
    let Ok(mut documents) = parse_documents(yaml) else {
        return PreparedManifest {
            yaml: yaml.to_string(),
            services: Vec::new(),
        };
    };
    let mut services = Vec::new();
    let mut rewritten = false;
    for doc in &mut documents {
        let is_service = doc.get("apiVersion").and_then(Value::as_str) == Some("v1")
            && doc.get("kind").and_then(Value::as_str) == Some("Service");
        if !is_service {
            continue;
        }
        let given = doc
            .get("spec")
            .and_then(|s| s.get("clusterIP"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let cluster_ip = match given.as_deref() {
            Some("None") => ClusterIp::Headless,
            Some(ip) => match ip.parse() {
                Ok(ip) => ClusterIp::Vip(ip),
                // The control plane reports a bad address; resolve nothing for it.
                Err(_) => continue,
            },
            None => {
                let ip = allocate();
                if let Some(spec) = doc.get_mut("spec").and_then(Value::as_mapping_mut) {
                    spec.insert("clusterIP".into(), ip.to_string().into());
                    rewritten = true;
                }
                ClusterIp::Vip(ip)
            }
        };
        services.push(ServiceRecord {
            name: text(doc, &["metadata", "name"]).unwrap_or_default(),
            namespace: text(doc, &["metadata", "namespace"]).unwrap_or_else(|| "default".into()),
            cluster_ip,
            selector: doc
                .get("spec")
                .and_then(|s| s.get("selector"))
                .and_then(|s| serde_norway::from_value(s.clone()).ok())
                .unwrap_or_default(),
        });
    }
    let yaml = if rewritten {
        documents
            .iter()
            .filter_map(|d| serde_norway::to_string(d).ok())
            .collect::<Vec<_>>()
            .join("---\n")
    } else {
        yaml.to_string()
    };
    PreparedManifest { yaml, services }
}

fn parse_documents(yaml: &str) -> Result<Vec<Value>, serde_norway::Error> {
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(yaml) {
        let value = <Value as serde::Deserialize>::deserialize(document)?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

fn text(doc: &Value, path: &[&str]) -> Option<String> {
    let mut value = doc;
    for key in path {
        value = value.get(*key)?;
    }
    value.as_str().map(str::to_string)
}

/// The WorkloadEntry that makes a pod an endpoint in universal mode: its address,
/// labels, service account and named ports, as a Pod's would be. A meshed pod also
/// gets `security.istio.io/tlsMode: istio`, as Istio's injector labels it.
pub fn workload_entry(spec: &PodSpec, ip: Ipv4Addr) -> String {
    let mut labels = spec.labels.clone();
    if spec.sidecar {
        labels.insert(TLS_MODE_LABEL.to_string(), "istio".to_string());
    }
    let ports: BTreeMap<&str, u16> = spec
        .ports
        .iter()
        .map(|p| (p.name.as_str(), p.port))
        .collect();
    let entry = serde_json::json!({
        "apiVersion": "networking.mesh.dev/v1alpha1",
        "kind": "WorkloadEntry",
        "metadata": {"name": spec.pod.name, "namespace": spec.pod.namespace},
        "spec": {
            "address": ip.to_string(),
            "labels": labels,
            "serviceAccount": spec.service_account,
            "ports": ports,
        },
    });
    serde_norway::to_string(&entry).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICES: &str = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: demo}
spec: {hosts: [web]}
";

    #[test]
    fn services_without_cluster_ip_get_one_written_into_the_yaml() {
        let prepared = prepare(SERVICES, || Ipv4Addr::new(10, 96, 0, 10));
        assert_eq!(prepared.services.len(), 2);
        let web = &prepared.services[0];
        assert_eq!(web.cluster_ip, ClusterIp::Vip(Ipv4Addr::new(10, 96, 0, 10)));
        assert_eq!(web.selector.get("app").map(String::as_str), Some("web"));
        assert!(
            prepared.yaml.contains("clusterIP: 10.96.0.10"),
            "{}",
            prepared.yaml
        );
        assert!(prepared.yaml.contains("kind: VirtualService"));
        let db = &prepared.services[1];
        assert_eq!(
            (db.namespace.as_str(), db.cluster_ip),
            ("default", ClusterIp::Headless)
        );
    }

    #[test]
    fn manifests_with_addresses_or_bad_yaml_are_passed_on_unchanged() {
        let given =
            "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.1.1}\n";
        let prepared = prepare(given, || unreachable!("no allocation needed"));
        assert_eq!(prepared.yaml, given);
        let broken = "kind: [unclosed";
        assert_eq!(prepare(broken, || Ipv4Addr::LOCALHOST).yaml, broken);
    }

    #[test]
    fn short_names_resolve_only_within_the_namespace() {
        let prepared = prepare(SERVICES, || Ipv4Addr::new(10, 96, 0, 10));
        let web = &prepared.services[0];
        assert_eq!(web.hostnames("demo")[0], "web");
        assert_eq!(
            web.hostnames("other"),
            ["web.demo", "web.demo.svc", "web.demo.svc.cluster.local"]
        );
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        assert!(web.selects("demo", &labels));
        assert!(!web.selects("other", &labels));
    }

    #[test]
    fn workload_entry_carries_the_pods_identity() {
        let spec = PodSpec::sample_app("web-v1-0", "demo", "web", "v1", &[]).service_account("web");
        let yaml = workload_entry(&spec, Ipv4Addr::new(10, 77, 1, 1));
        for expected in [
            "kind: WorkloadEntry",
            "address: 10.77.1.1",
            "serviceAccount: web",
            "http: 9080",
            "version: v1",
        ] {
            assert!(yaml.contains(expected), "{expected} in\n{yaml}");
        }
    }
}
