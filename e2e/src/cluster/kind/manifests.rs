//! The Kubernetes objects a [`PodSpec`] and the scenarios' config files become on kind.
//! Pure: plain JSON values in, plain JSON values out, so every rule is unit-tested
//! without a cluster.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::cluster::spec::INJECT_LABEL;
use crate::cluster::{ClusterError, PodSpec, SidecarProxy};

/// Label on everything the kind suite creates, so a new run can sweep what an
/// interrupted one left behind.
pub const E2E_LABEL: &str = "mesh.dev/e2e";
pub const E2E_LABEL_VALUE: &str = "kind";
/// The namespace label that turns injection on (Istio's `istio-injection` alias is
/// honoured too; ours is what the suite uses).
pub const INJECTION_LABEL: &str = "mesh.dev/inject";
/// Istio's pod label for opting out of injection, set next to ours.
pub const ISTIO_INJECT_LABEL: &str = "sidecar.istio.io/inject";
/// Istio's per-pod proxy config annotation.
pub const PROXY_CONFIG_ANNOTATION: &str = "proxy.istio.io/config";
/// The app container's name in every pod (what `kubectl exec -c` names).
pub const APP_CONTAINER: &str = "app";
/// The app's user: an ordinary one, whose traffic the redirect rules capture (as on
/// the local cluster).
pub const APP_UID: i64 = 1000;
/// How long a removed pod's app keeps serving after its endpoints start leaving the
/// proxies (`preStop`), as a Deployment behind a mesh would be configured.
pub const PRE_STOP_SECONDS: u32 = 5;

/// An object's identity: enough to delete it by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub api_version: String,
    pub kind: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// `kind.group/name`, as `kubectl delete` takes it (`service/web`,
    /// `virtualservice.networking.istio.io/web`).
    pub fn kubectl_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => format!("{kind}.{group}/{}", self.name),
            None => format!("{kind}/{}", self.name),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.namespace.as_str() {
            "" => write!(f, "{} {}", self.kind, self.name),
            ns => write!(f, "{} {ns}/{}", self.kind, self.name),
        }
    }
}

/// A namespace the suite deploys into: injection on, labelled as the suite's.
pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {INJECTION_LABEL: "enabled", E2E_LABEL: E2E_LABEL_VALUE},
        },
    })
}

/// The ServiceAccount a pod runs as (its SPIFFE identity's `sa`).
pub fn service_account(name: &str, namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {E2E_LABEL: E2E_LABEL_VALUE},
        },
    })
}

/// The Pod for `spec`, running `image` (which has the spec's command). The injector
/// adds the sidecar: a meshed pod asks it to start the app after the proxy
/// (`holdApplicationUntilProxyStarts`, as the local cluster does); a pod outside the
/// mesh carries both opt-out labels.
pub fn pod(spec: &PodSpec, image: &str) -> Result<Value, ClusterError> {
    if spec.sidecar && spec.proxy == SidecarProxy::Envoy {
        return Err(ClusterError::Pod {
            pod: spec.pod.to_string(),
            detail: "an Envoy sidecar is not available on kind: the injector adds \
                     mesh-proxy; run this scenario on the local cluster"
                .to_string(),
        });
    }
    if spec.command.is_empty() {
        return Err(ClusterError::Pod {
            pod: spec.pod.to_string(),
            detail: "no command: give the pod spec a command".to_string(),
        });
    }
    let mut labels = spec.labels.clone();
    labels.insert(E2E_LABEL.to_string(), E2E_LABEL_VALUE.to_string());
    let mut annotations = spec.annotations.clone();
    if spec.sidecar {
        labels.remove(INJECT_LABEL);
        labels.remove(ISTIO_INJECT_LABEL);
        annotations.insert(
            PROXY_CONFIG_ANNOTATION.to_string(),
            r#"{"holdApplicationUntilProxyStarts":true}"#.to_string(),
        );
    } else {
        labels.insert(INJECT_LABEL.to_string(), "false".to_string());
        labels.insert(ISTIO_INJECT_LABEL.to_string(), "false".to_string());
    }
    let mut env: Vec<Value> = [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
        ("POD_IP", "status.podIP"),
        ("SERVICE_ACCOUNT", "spec.serviceAccountName"),
    ]
    .iter()
    .map(|(name, path)| json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}))
    .collect();
    env.extend(
        spec.env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value})),
    );
    let ports: Vec<Value> = spec
        .ports
        .iter()
        .map(|p| json!({"name": p.name, "containerPort": p.port, "protocol": "TCP"}))
        .collect();
    let mut container = json!({
        "name": APP_CONTAINER,
        "image": image,
        // Images are loaded into the nodes (`kind load`), never pulled.
        "imagePullPolicy": "IfNotPresent",
        "command": spec.command,
        "env": env,
        "ports": ports,
        "securityContext": {
            "runAsUser": APP_UID,
            "runAsGroup": APP_UID,
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "capabilities": {"drop": ["ALL"]},
        },
        "lifecycle": {
            "preStop": {"exec": {"command": ["sleep", PRE_STOP_SECONDS.to_string()]}},
        },
    });
    if let Some(probe) = readiness_probe(spec) {
        container["readinessProbe"] = probe;
    }
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.pod.name,
            "namespace": spec.pod.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "serviceAccountName": spec.service_account,
            "terminationGracePeriodSeconds": 30,
            "containers": [container],
        },
    }))
}

/// Ready when every declared port accepts a connection on the loopback, which the
/// redirect rules leave alone: the app itself listens, not the sidecar in front of
/// it (a TCP probe to the pod IP would be answered by the inbound capture).
fn readiness_probe(spec: &PodSpec) -> Option<Value> {
    if spec.ports.is_empty() {
        return None;
    }
    let checks: Vec<String> = spec
        .ports
        .iter()
        .map(|p| format!("(exec 3<>/dev/tcp/127.0.0.1/{}) 2>/dev/null", p.port))
        .collect();
    Some(json!({
        "exec": {"command": ["bash", "-c", checks.join(" && ")]},
        "periodSeconds": 1,
        "failureThreshold": 3,
        "timeoutSeconds": 5,
    }))
}

/// The documents of a config file (`---`-separated YAML), nulls dropped.
pub fn documents(file: &str, yaml: &str) -> Result<Vec<Value>, ClusterError> {
    let mut documents = Vec::new();
    for (index, document) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(document).map_err(|e| {
            ClusterError::Config {
                file: file.to_string(),
                detail: format!("document {index}: {e}"),
            }
        })?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// The documents labelled as the suite's, for `kubectl apply`: one JSON `List`.
pub fn labelled_list(documents: &[Value]) -> Value {
    let items: Vec<Value> = documents
        .iter()
        .cloned()
        .map(|mut doc| {
            if let Some(metadata) = doc.get_mut("metadata").and_then(Value::as_object_mut) {
                let labels = metadata.entry("labels").or_insert_with(|| json!({}));
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert(E2E_LABEL.to_string(), E2E_LABEL_VALUE.into());
                }
            }
            doc
        })
        .collect();
    json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// The identity of each document; a namespaced one without a namespace is in
/// `default`, as `kubectl apply` puts it.
pub fn object_keys(file: &str, documents: &[Value]) -> Result<Vec<ObjectKey>, ClusterError> {
    documents
        .iter()
        .enumerate()
        .map(|(index, doc)| {
            let text = |path: &[&str]| {
                path.iter()
                    .try_fold(doc, |v, k| v.get(*k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let missing = |field: &str| ClusterError::Config {
                file: file.to_string(),
                detail: format!("document {index} has no {field}"),
            };
            let kind = text(&["kind"]).ok_or_else(|| missing("kind"))?;
            let cluster_scoped = matches!(
                kind.as_str(),
                "Namespace" | "ClusterRole" | "ClusterRoleBinding"
            );
            Ok(ObjectKey {
                api_version: text(&["apiVersion"]).ok_or_else(|| missing("apiVersion"))?,
                namespace: if cluster_scoped {
                    String::new()
                } else {
                    text(&["metadata", "namespace"]).unwrap_or_else(|| "default".to_string())
                },
                name: text(&["metadata", "name"]).ok_or_else(|| missing("metadata.name"))?,
                kind,
            })
        })
        .collect()
}

/// The namespaces `keys` live in, which must exist before they are applied.
pub fn namespaces_of(keys: &[ObjectKey]) -> BTreeSet<String> {
    keys.iter()
        .filter(|k| !k.namespace.is_empty())
        .map(|k| k.namespace.clone())
        .collect()
}

/// What applying `next` over `previous` (the same file) must delete: the objects the
/// file no longer holds, so that applying a file again replaces what it held.
pub fn removed(previous: &[ObjectKey], next: &[ObjectKey]) -> Vec<ObjectKey> {
    let next: BTreeSet<&ObjectKey> = next.iter().collect();
    previous
        .iter()
        .filter(|k| !next.contains(k))
        .cloned()
        .collect()
}

/// Groups `keys` by namespace, each as the `kubectl delete -n NS` names.
pub fn delete_names(keys: &[ObjectKey]) -> BTreeMap<String, Vec<String>> {
    let mut by_namespace: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys {
        by_namespace
            .entry(key.namespace.clone())
            .or_default()
            .push(key.kubectl_name());
    }
    by_namespace
}

#[cfg(test)]
mod tests;
