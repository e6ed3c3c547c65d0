//! What the Kubernetes source watches: core resources, and the mesh's custom
//! resources in our groups and Istio's, whichever of them the cluster serves.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ApiResource;
use mesh_api::object::Kind;

/// A custom resource kind the mesh reads: its group, plural and the versions it is
/// accepted under, most preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomKind {
    pub kind: Kind,
    pub group: &'static str,
    pub plural: &'static str,
    pub versions: Vec<&'static str>,
}

/// Every custom kind, in both our groups and Istio's.
pub fn custom_kinds() -> Vec<CustomKind> {
    let mut kinds = Vec::new();
    for kind in Kind::ALL {
        let Some(plural) = plural(kind) else {
            continue;
        };
        let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for api_version in kind.api_versions() {
            let Some((group, version)) = api_version.split_once('/') else {
                continue;
            };
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, versions)) => versions.push(version),
                None => groups.push((group, vec![version])),
            }
        }
        kinds.extend(groups.into_iter().map(|(group, versions)| CustomKind {
            kind,
            group,
            plural,
            versions,
        }));
    }
    kinds
}

/// The plural resource name of a custom kind; `None` for core kinds.
fn plural(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::VirtualService => "virtualservices",
        Kind::DestinationRule => "destinationrules",
        Kind::ServiceEntry => "serviceentries",
        Kind::Gateway => "gateways",
        Kind::Sidecar => "sidecars",
        Kind::WorkloadEntry => "workloadentries",
        Kind::PeerAuthentication => "peerauthentications",
        Kind::AuthorizationPolicy => "authorizationpolicies",
        Kind::RequestAuthentication => "requestauthentications",
        _ => return None,
    })
}

impl CustomKind {
    /// `virtualservices.networking.istio.io`, the CRD's name.
    pub fn resource_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// The kind a CRD defines, if it is one of ours.
    pub fn of(crd: &CustomResourceDefinition, kinds: &[CustomKind]) -> Option<CustomKind> {
        kinds
            .iter()
            .find(|k| k.group == crd.spec.group && k.plural == crd.spec.names.plural)
            .cloned()
    }

    /// The version to watch: the most preferred one the CRD serves, once the CRD is
    /// established (before, its resources cannot be listed).
    pub fn version_to_watch(&self, crd: &CustomResourceDefinition) -> Option<&'static str> {
        let established = crd.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
        if !established {
            return None;
        }
        self.versions.iter().copied().find(|v| {
            crd.spec
                .versions
                .iter()
                .any(|served| served.name == *v && served.served)
        })
    }

    pub fn api_resource(&self, version: &str) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: version.to_string(),
            api_version: format!("{}/{version}", self.group),
            kind: self.kind.as_str().to_string(),
            plural: self.plural.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd(
        group: &str,
        plural: &str,
        kind: &str,
        versions: &[(&str, bool)],
        established: bool,
    ) -> CustomResourceDefinition {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "names": {"plural": plural, "kind": kind},
                "scope": "Namespaced",
                "versions": versions.iter().map(|(name, served)| serde_json::json!({
                    "name": name, "served": served, "storage": true
                })).collect::<Vec<_>>()
            },
            "status": {"conditions": [{"type": "Established", "status": if established {"True"} else {"False"}}]}
        }))
        .expect("a CRD")
    }

    #[test]
    fn every_custom_kind_is_watched_in_our_group_and_istios() {
        let kinds = custom_kinds();
        let names: Vec<String> = kinds.iter().map(CustomKind::resource_name).collect();
        assert!(names.contains(&"virtualservices.networking.mesh.dev".to_string()));
        assert!(names.contains(&"virtualservices.networking.istio.io".to_string()));
        assert!(names.contains(&"authorizationpolicies.security.istio.io".to_string()));
        assert_eq!(kinds.len(), 18, "9 kinds in 2 groups each: {names:?}");
    }

    #[test]
    fn the_most_preferred_served_version_of_an_established_crd_is_watched() {
        let kinds = custom_kinds();
        let istio = crd(
            "networking.istio.io",
            "virtualservices",
            "VirtualService",
            &[("v1alpha3", true), ("v1beta1", true), ("v1", true)],
            true,
        );
        let kind = CustomKind::of(&istio, &kinds).expect("ours");
        assert_eq!(kind.version_to_watch(&istio), Some("v1"));
        let old = crd(
            "networking.istio.io",
            "virtualservices",
            "VirtualService",
            &[("v1alpha3", true), ("v1", false)],
            true,
        );
        assert_eq!(kind.version_to_watch(&old), Some("v1alpha3"));
        let pending = crd(
            "networking.istio.io",
            "virtualservices",
            "VirtualService",
            &[("v1", true)],
            false,
        );
        assert_eq!(kind.version_to_watch(&pending), None, "not established yet");
        let gateway_api = crd(
            "gateway.networking.k8s.io",
            "gateways",
            "Gateway",
            &[("v1", true)],
            true,
        );
        assert!(CustomKind::of(&gateway_api, &kinds).is_none());
    }
}
