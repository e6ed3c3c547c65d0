//! The live cluster as the analyzers' input: every object of the kinds they read,
//! listed from the API server and written back as one YAML document per object, named
//! `kubernetes/<Kind>/<namespace>/<name>` in place of a file. Both our groups and
//! Istio's are read, whichever the cluster serves.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIGroupList;
use kube::api::{ApiResource, DynamicObject, ListParams, TypeMeta};
use kube::{Api, Client};

use crate::cluster::api_error;

/// The prefix of the pseudo-file names of live objects.
pub(crate) const PREFIX: &str = "kubernetes/";

/// A kind the analyzers read: (group, plural, kind). The version is the one the
/// cluster prefers for the group.
const KINDS: &[(&str, &str, &str)] = &[
    ("", "namespaces", "Namespace"),
    ("", "services", "Service"),
    ("", "pods", "Pod"),
    ("", "nodes", "Node"),
    ("", "secrets", "Secret"),
    ("", "configmaps", "ConfigMap"),
    ("discovery.k8s.io", "endpointslices", "EndpointSlice"),
    ("apps", "deployments", "Deployment"),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
    ),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
    ),
    ("networking.mesh.dev", "virtualservices", "VirtualService"),
    ("networking.mesh.dev", "destinationrules", "DestinationRule"),
    ("networking.mesh.dev", "serviceentries", "ServiceEntry"),
    ("networking.mesh.dev", "gateways", "Gateway"),
    ("networking.mesh.dev", "sidecars", "Sidecar"),
    ("networking.mesh.dev", "workloadentries", "WorkloadEntry"),
    (
        "security.mesh.dev",
        "peerauthentications",
        "PeerAuthentication",
    ),
    (
        "security.mesh.dev",
        "authorizationpolicies",
        "AuthorizationPolicy",
    ),
    (
        "security.mesh.dev",
        "requestauthentications",
        "RequestAuthentication",
    ),
    ("networking.istio.io", "virtualservices", "VirtualService"),
    ("networking.istio.io", "destinationrules", "DestinationRule"),
    ("networking.istio.io", "serviceentries", "ServiceEntry"),
    ("networking.istio.io", "gateways", "Gateway"),
    ("networking.istio.io", "sidecars", "Sidecar"),
    ("networking.istio.io", "workloadentries", "WorkloadEntry"),
    ("networking.istio.io", "proxyconfigs", "ProxyConfig"),
    (
        "security.istio.io",
        "peerauthentications",
        "PeerAuthentication",
    ),
    (
        "security.istio.io",
        "authorizationpolicies",
        "AuthorizationPolicy",
    ),
    (
        "security.istio.io",
        "requestauthentications",
        "RequestAuthentication",
    ),
    ("telemetry.istio.io", "telemetries", "Telemetry"),
    ("extensions.istio.io", "wasmplugins", "WasmPlugin"),
    ("gateway.networking.k8s.io", "gateways", "Gateway"),
    ("gateway.networking.k8s.io", "httproutes", "HTTPRoute"),
    ("gateway.networking.k8s.io", "grpcroutes", "GRPCRoute"),
];

/// What was read from the cluster.
#[derive(Debug, Default)]
pub(crate) struct LiveInput {
    /// `(pseudo-file name, YAML)`, one per object.
    pub(crate) files: Vec<(String, String)>,
    /// Groups the cluster does not serve (their CRDs are not installed).
    pub(crate) missing_groups: Vec<String>,
    /// Kinds your user may not list; the analyzers that need them see none.
    pub(crate) forbidden: Vec<String>,
}

/// Lists every object the analyzers read, all namespaces (the analyzers need the
/// whole picture; `-n` filters the messages, as istioctl does).
pub(crate) async fn read(client: &Client) -> anyhow::Result<LiveInput> {
    let groups: APIGroupList = client
        .list_api_groups()
        .await
        .map_err(|e| api_error("list the API groups", e))?;
    let preferred: BTreeMap<&str, &str> = groups
        .groups
        .iter()
        .filter_map(|g| {
            let version = g.preferred_version.as_ref().or(g.versions.first())?;
            Some((g.name.as_str(), version.version.as_str()))
        })
        .collect();
    let mut input = LiveInput::default();
    for &(group, plural, kind) in KINDS {
        let version = match group {
            "" => "v1",
            g => match preferred.get(g) {
                Some(v) => v,
                None => {
                    if !input.missing_groups.iter().any(|m| m == g) {
                        input.missing_groups.push(g.to_string());
                    }
                    continue;
                }
            },
        };
        let resource = api_resource(group, version, plural, kind);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            // A group served without this kind (an older Istio), or a kind we may not list.
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(kube::Error::Api(status)) if status.code == 403 => {
                input
                    .forbidden
                    .push(format!("{plural}.{}", resource.api_version));
                continue;
            }
            Err(e) => {
                return Err(api_error(
                    &format!("list {plural} ({})", resource.api_version),
                    e,
                ));
            }
        };
        for mut object in list.items {
            // Items of a list come without their type; the analyzers need it.
            object.types = Some(TypeMeta {
                api_version: resource.api_version.clone(),
                kind: kind.to_string(),
            });
            object.metadata.managed_fields = None;
            let name = pseudo_file(
                kind,
                object.metadata.namespace.as_deref(),
                object.metadata.name.as_deref(),
            );
            let yaml = serde_norway::to_string(&object)?;
            input.files.push((name, yaml));
        }
    }
    Ok(input)
}

fn api_resource(group: &str, version: &str, plural: &str, kind: &str) -> ApiResource {
    let api_version = match group {
        "" => version.to_string(),
        g => format!("{g}/{version}"),
    };
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version,
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

/// `kubernetes/<Kind>/<namespace>/<name>`; cluster-scoped objects have no namespace part.
pub(crate) fn pseudo_file(kind: &str, namespace: Option<&str>, name: Option<&str>) -> String {
    let name = name.unwrap_or("<unnamed>");
    match namespace {
        Some(ns) => format!("{PREFIX}{kind}/{ns}/{name}"),
        None => format!("{PREFIX}{kind}/{name}"),
    }
}

#[cfg(test)]
mod tests;
