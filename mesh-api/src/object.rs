//! One configuration object of any kind the mesh reads, and how an object is named.

use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::ObjectMeta;

use crate::networking::{
    DestinationRule, Gateway, ServiceEntry, Sidecar, VirtualService, WorkloadEntry,
};
use crate::security::{AuthorizationPolicy, PeerAuthentication, RequestAuthentication};

/// Namespace given to objects whose manifest names none, as `kubectl apply` does.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Every kind of object the mesh reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Service,
    VirtualService,
    DestinationRule,
    ServiceEntry,
    Gateway,
    Sidecar,
    WorkloadEntry,
    PeerAuthentication,
    AuthorizationPolicy,
    RequestAuthentication,
    /// Kubernetes Pods: workloads, and what EndpointSlice endpoints are enriched from.
    Pod,
    /// `discovery.k8s.io/v1` EndpointSlices: the endpoints of Kubernetes Services.
    EndpointSlice,
    /// Cluster-scoped: its [`ObjectRef`] namespace is `""`.
    Namespace,
}

/// The API group a kind belongs to, which decides the versions it is accepted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiGroup {
    Core,
    Discovery,
    Networking,
    Security,
}

/// A configuration object, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum MeshObject {
    Service(Box<Service>),
    VirtualService(Box<VirtualService>),
    DestinationRule(Box<DestinationRule>),
    ServiceEntry(Box<ServiceEntry>),
    Gateway(Box<Gateway>),
    Sidecar(Box<Sidecar>),
    WorkloadEntry(Box<WorkloadEntry>),
    PeerAuthentication(Box<PeerAuthentication>),
    AuthorizationPolicy(Box<AuthorizationPolicy>),
    RequestAuthentication(Box<RequestAuthentication>),
    Pod(Box<Pod>),
    EndpointSlice(Box<EndpointSlice>),
    Namespace(Box<Namespace>),
}

/// Names one object: its kind, namespace and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Kind {
    /// Every kind, in the order objects are listed to users.
    pub const ALL: [Kind; 13] = [
        Kind::Service,
        Kind::VirtualService,
        Kind::DestinationRule,
        Kind::ServiceEntry,
        Kind::Gateway,
        Kind::Sidecar,
        Kind::WorkloadEntry,
        Kind::PeerAuthentication,
        Kind::AuthorizationPolicy,
        Kind::RequestAuthentication,
        Kind::Pod,
        Kind::EndpointSlice,
        Kind::Namespace,
    ];

    /// The `kind:` string of manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "Service",
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::ServiceEntry => "ServiceEntry",
            Kind::Gateway => "Gateway",
            Kind::Sidecar => "Sidecar",
            Kind::WorkloadEntry => "WorkloadEntry",
            Kind::PeerAuthentication => "PeerAuthentication",
            Kind::AuthorizationPolicy => "AuthorizationPolicy",
            Kind::RequestAuthentication => "RequestAuthentication",
            Kind::Pod => "Pod",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Namespace => "Namespace",
        }
    }

    fn group(self) -> ApiGroup {
        match self {
            Kind::Service | Kind::Pod | Kind::Namespace => ApiGroup::Core,
            Kind::EndpointSlice => ApiGroup::Discovery,
            Kind::PeerAuthentication | Kind::AuthorizationPolicy | Kind::RequestAuthentication => {
                ApiGroup::Security
            }
            _ => ApiGroup::Networking,
        }
    }

    /// Resolves a manifest's `apiVersion` and `kind`.
    ///
    /// Our own groups and Istio's groups and versions are all accepted, so that an
    /// Istio user's YAML works unchanged.
    pub fn from_type_meta(api_version: &str, kind: &str) -> Result<Kind, TypeMetaError> {
        let Some(found) = Kind::ALL.into_iter().find(|k| k.as_str() == kind) else {
            return Err(TypeMetaError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            });
        };
        let versions = found.group().api_versions();
        if versions.contains(&api_version) {
            return Ok(found);
        }
        // Another API's kind of the same name (Gateway API's `Gateway`) is not ours; our
        // kind under a group of ours or Istio's in a version or group we do not serve
        // (`networking.istio.io/v1alpha2`, `security.istio.io/v1`) is a mistake.
        let group_of = |v: &str| {
            v.rsplit_once('/')
                .map_or("", |(group, _)| group)
                .to_string()
        };
        let ours = [
            ApiGroup::Core,
            ApiGroup::Discovery,
            ApiGroup::Networking,
            ApiGroup::Security,
        ]
        .iter()
        .flat_map(|g| g.api_versions())
        .any(|v| group_of(v) == group_of(api_version));
        if ours {
            Err(TypeMetaError::UnsupportedVersion {
                kind: found,
                api_version: api_version.to_string(),
            })
        } else {
            Err(TypeMetaError::UnknownKind {
                api_version: api_version.to_string(),
                kind: kind.to_string(),
            })
        }
    }

    /// The `apiVersion`s under which this kind is accepted; the first is the one we serve.
    pub fn api_versions(self) -> &'static [&'static str] {
        self.group().api_versions()
    }

    /// Whether objects of this kind live outside namespaces.
    pub fn is_cluster_scoped(self) -> bool {
        self == Kind::Namespace
    }
}

impl ApiGroup {
    fn api_versions(self) -> &'static [&'static str] {
        match self {
            ApiGroup::Core => &["v1"],
            ApiGroup::Discovery => &["discovery.k8s.io/v1"],
            ApiGroup::Networking => &[
                "networking.mesh.dev/v1alpha1",
                "networking.istio.io/v1",
                "networking.istio.io/v1beta1",
                "networking.istio.io/v1alpha3",
            ],
            ApiGroup::Security => &[
                "security.mesh.dev/v1alpha1",
                "security.istio.io/v1",
                "security.istio.io/v1beta1",
            ],
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a manifest's `apiVersion`/`kind` pair is not one the mesh reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeMetaError {
    #[error(
        "kind {kind:?} (apiVersion {api_version:?}) is not a kind mesh reads; supported kinds: \
         Service, VirtualService, DestinationRule, ServiceEntry, Gateway, Sidecar, WorkloadEntry, \
         PeerAuthentication, AuthorizationPolicy, RequestAuthentication, Pod, EndpointSlice, Namespace"
    )]
    UnknownKind { api_version: String, kind: String },
    #[error("{kind} is not served under apiVersion {api_version:?}; use one of: {}", kind.api_versions().join(", "))]
    UnsupportedVersion { kind: Kind, api_version: String },
}

impl MeshObject {
    pub fn kind(&self) -> Kind {
        match self {
            MeshObject::Service(_) => Kind::Service,
            MeshObject::VirtualService(_) => Kind::VirtualService,
            MeshObject::DestinationRule(_) => Kind::DestinationRule,
            MeshObject::ServiceEntry(_) => Kind::ServiceEntry,
            MeshObject::Gateway(_) => Kind::Gateway,
            MeshObject::Sidecar(_) => Kind::Sidecar,
            MeshObject::WorkloadEntry(_) => Kind::WorkloadEntry,
            MeshObject::PeerAuthentication(_) => Kind::PeerAuthentication,
            MeshObject::AuthorizationPolicy(_) => Kind::AuthorizationPolicy,
            MeshObject::RequestAuthentication(_) => Kind::RequestAuthentication,
            MeshObject::Pod(_) => Kind::Pod,
            MeshObject::EndpointSlice(_) => Kind::EndpointSlice,
            MeshObject::Namespace(_) => Kind::Namespace,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            MeshObject::Service(o) => &o.metadata,
            MeshObject::VirtualService(o) => &o.metadata,
            MeshObject::DestinationRule(o) => &o.metadata,
            MeshObject::ServiceEntry(o) => &o.metadata,
            MeshObject::Gateway(o) => &o.metadata,
            MeshObject::Sidecar(o) => &o.metadata,
            MeshObject::WorkloadEntry(o) => &o.metadata,
            MeshObject::PeerAuthentication(o) => &o.metadata,
            MeshObject::AuthorizationPolicy(o) => &o.metadata,
            MeshObject::RequestAuthentication(o) => &o.metadata,
            MeshObject::Pod(o) => &o.metadata,
            MeshObject::EndpointSlice(o) => &o.metadata,
            MeshObject::Namespace(o) => &o.metadata,
        }
    }

    /// The object's reference; the manifest parser guarantees name and namespace are set.
    /// Cluster-scoped objects (Namespaces) have the namespace `""`, whatever their
    /// metadata says, as the API server ignores it.
    pub fn object_ref(&self) -> ObjectRef {
        let meta = self.metadata();
        let kind = self.kind();
        ObjectRef {
            kind,
            namespace: if kind.is_cluster_scoped() {
                String::new()
            } else {
                meta.namespace
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string())
            },
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for ObjectRef {
    /// `Kind namespace/name` (`Kind name` when cluster-scoped), the form every message
    /// to users takes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            return write!(f, "{} {}", self.kind, self.name);
        }
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn istio_groups_and_versions_resolve_to_our_kinds() {
        for v in [
            "networking.istio.io/v1",
            "networking.istio.io/v1beta1",
            "networking.istio.io/v1alpha3",
        ] {
            assert_eq!(
                Kind::from_type_meta(v, "VirtualService"),
                Ok(Kind::VirtualService)
            );
        }
        assert_eq!(
            Kind::from_type_meta("security.istio.io/v1beta1", "AuthorizationPolicy"),
            Ok(Kind::AuthorizationPolicy)
        );
        assert_eq!(Kind::from_type_meta("v1", "Service"), Ok(Kind::Service));
    }

    #[test]
    fn kubernetes_kinds_resolve_in_their_groups_only() {
        assert_eq!(Kind::from_type_meta("v1", "Pod"), Ok(Kind::Pod));
        assert_eq!(Kind::from_type_meta("v1", "Namespace"), Ok(Kind::Namespace));
        assert_eq!(
            Kind::from_type_meta("discovery.k8s.io/v1", "EndpointSlice"),
            Ok(Kind::EndpointSlice)
        );
        // v1beta1 was removed in Kubernetes 1.25: a mistake to report, not a skip.
        let err = Kind::from_type_meta("discovery.k8s.io/v1beta1", "EndpointSlice").unwrap_err();
        assert!(matches!(err, TypeMetaError::UnsupportedVersion { .. }));
        assert!(Kind::from_type_meta("v1", "Endpoints").is_err());
    }

    #[test]
    fn kind_in_the_wrong_group_is_rejected_with_the_versions_to_use() {
        let err = Kind::from_type_meta("security.istio.io/v1", "VirtualService").unwrap_err();
        assert!(
            err.to_string().contains("networking.mesh.dev/v1alpha1"),
            "{err}"
        );
        let err = Kind::from_type_meta("networking.istio.io/v1", "EnvoyFilter").unwrap_err();
        assert!(matches!(err, TypeMetaError::UnknownKind { .. }));
        let err = Kind::from_type_meta("networking.istio.io/v1alpha2", "Gateway").unwrap_err();
        assert!(matches!(err, TypeMetaError::UnsupportedVersion { .. }));
    }

    #[test]
    fn same_named_kinds_of_other_apis_are_not_ours() {
        // Gateway API's Gateway, and a core v1 kind named like ours in another group.
        for (api_version, kind) in [
            ("gateway.networking.k8s.io/v1", "Gateway"),
            ("gateway.networking.k8s.io/v1beta1", "Gateway"),
            ("serving.knative.dev/v1", "Service"),
        ] {
            let err = Kind::from_type_meta(api_version, kind).unwrap_err();
            assert!(
                matches!(err, TypeMetaError::UnknownKind { .. }),
                "{api_version} {kind}"
            );
        }
    }
}
