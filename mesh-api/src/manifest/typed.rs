//! Typed deserialization of one document, with the field path and line of any error.

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::core::ObjectMeta;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::object::{Kind, MeshObject};

/// The envelope shared by our CRD kinds: `status` is written by servers, never read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Envelope<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: ObjectMeta,
    #[serde(default = "Option::default")]
    spec: Option<S>,
    #[allow(dead_code)]
    #[serde(default)]
    status: Option<IgnoredAny>,
}

/// A deserialization failure: the field path and the line, when serde could tell.
pub(super) struct FieldError {
    pub(super) field: Option<String>,
    pub(super) line: Option<usize>,
    pub(super) message: String,
}

/// What a document is deserialized from.
pub(super) enum Source<'a> {
    /// The document's text: errors carry lines.
    Text(&'a str),
    /// A pruned copy of the document.
    Value(serde_norway::Value),
}

/// The document without null-valued mapping entries, or `None` when it has none.
pub(super) fn prune_nulls(mut value: serde_norway::Value) -> Option<serde_norway::Value> {
    fn prune(value: &mut serde_norway::Value) -> bool {
        match value {
            serde_norway::Value::Mapping(map) => {
                let before = map.len();
                map.retain(|_, v| !v.is_null());
                let mut pruned = map.len() != before;
                for (_, v) in map.iter_mut() {
                    pruned |= prune(v);
                }
                pruned
            }
            serde_norway::Value::Sequence(items) => {
                // Every item is pruned: no short-circuit.
                let mut pruned = false;
                for item in items {
                    pruned |= prune(item);
                }
                pruned
            }
            _ => false,
        }
    }
    prune(&mut value).then_some(value)
}

pub(super) fn deserialize_object(kind: Kind, text: &Source<'_>) -> Result<MeshObject, FieldError> {
    use crate::networking as net;
    use crate::security as sec;
    Ok(match kind {
        Kind::Service => MeshObject::Service(Box::new(deserialize::<Service>(text)?)),
        Kind::Pod => MeshObject::Pod(Box::new(deserialize::<Pod>(text)?)),
        Kind::EndpointSlice => {
            MeshObject::EndpointSlice(Box::new(deserialize::<EndpointSlice>(text)?))
        }
        Kind::Namespace => MeshObject::Namespace(Box::new(deserialize::<Namespace>(text)?)),
        Kind::VirtualService => {
            let (metadata, spec) = custom_resource::<net::VirtualServiceSpec>(text)?;
            MeshObject::VirtualService(Box::new(with_metadata(
                net::VirtualService::new("", spec),
                metadata,
            )))
        }
        Kind::DestinationRule => {
            let (metadata, spec) = custom_resource::<net::DestinationRuleSpec>(text)?;
            MeshObject::DestinationRule(Box::new(with_metadata(
                net::DestinationRule::new("", spec),
                metadata,
            )))
        }
        Kind::ServiceEntry => {
            let (metadata, spec) = custom_resource::<net::ServiceEntrySpec>(text)?;
            MeshObject::ServiceEntry(Box::new(with_metadata(
                net::ServiceEntry::new("", spec),
                metadata,
            )))
        }
        Kind::Gateway => {
            let (metadata, spec) = custom_resource::<net::GatewaySpec>(text)?;
            MeshObject::Gateway(Box::new(with_metadata(
                net::Gateway::new("", spec),
                metadata,
            )))
        }
        Kind::Sidecar => {
            let (metadata, spec) = custom_resource::<net::SidecarSpec>(text)?;
            MeshObject::Sidecar(Box::new(with_metadata(
                net::Sidecar::new("", spec),
                metadata,
            )))
        }
        Kind::WorkloadEntry => {
            let (metadata, spec) = custom_resource::<net::WorkloadEntrySpec>(text)?;
            MeshObject::WorkloadEntry(Box::new(with_metadata(
                net::WorkloadEntry::new("", spec),
                metadata,
            )))
        }
        Kind::PeerAuthentication => {
            let (metadata, spec) = custom_resource::<sec::PeerAuthenticationSpec>(text)?;
            MeshObject::PeerAuthentication(Box::new(with_metadata(
                sec::PeerAuthentication::new("", spec),
                metadata,
            )))
        }
        Kind::AuthorizationPolicy => {
            let (metadata, spec) = custom_resource::<sec::AuthorizationPolicySpec>(text)?;
            MeshObject::AuthorizationPolicy(Box::new(with_metadata(
                sec::AuthorizationPolicy::new("", spec),
                metadata,
            )))
        }
        Kind::RequestAuthentication => {
            let (metadata, spec) = custom_resource::<sec::RequestAuthenticationSpec>(text)?;
            MeshObject::RequestAuthentication(Box::new(with_metadata(
                sec::RequestAuthentication::new("", spec),
                metadata,
            )))
        }
    })
}

/// Gives a resource built with kube's `new` (which sets only the name) its full metadata.
fn with_metadata<K: kube::Resource>(mut resource: K, metadata: ObjectMeta) -> K {
    *resource.meta_mut() = metadata;
    resource
}

fn custom_resource<S: DeserializeOwned + Default>(
    text: &Source<'_>,
) -> Result<(ObjectMeta, S), FieldError> {
    let envelope: Envelope<S> = deserialize(text)?;
    // Like the API server, an object without a spec is an object with an empty spec
    // (`AuthorizationPolicy` with no spec is the documented deny-all).
    Ok((envelope.metadata, envelope.spec.unwrap_or_default()))
}

fn deserialize<T: DeserializeOwned>(source: &Source<'_>) -> Result<T, FieldError> {
    let result = match source {
        Source::Text(text) => {
            serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(text))
        }
        Source::Value(value) => serde_path_to_error::deserialize(value.clone()),
    };
    result.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let line = inner.location().map(|l| l.line());
        FieldError {
            field: (path != ".").then_some(path),
            line,
            message: strip_location(&inner.to_string()),
        }
    })
}

/// serde_norway decorates its messages with the path (`spec.x: `) and " at line L column
/// C"; we report both ourselves, the line relative to the file rather than the document.
fn strip_location(message: &str) -> String {
    let message = match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    let is_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_alphanumeric() || "._-[]".contains(c))
    };
    match message.split_once(": ") {
        Some((prefix, rest)) if is_path(prefix) && !rest.is_empty() => rest.to_string(),
        _ => message.to_string(),
    }
}

/// Sets the namespace of a namespaced object; a cluster-scoped one gets none, as the
/// API server ignores what its manifest says.
pub(super) fn set_namespace(object: &mut MeshObject, namespace: &str) {
    let cluster_scoped = object.kind().is_cluster_scoped();
    let meta = match object {
        MeshObject::Service(o) => &mut o.metadata,
        MeshObject::VirtualService(o) => &mut o.metadata,
        MeshObject::DestinationRule(o) => &mut o.metadata,
        MeshObject::ServiceEntry(o) => &mut o.metadata,
        MeshObject::Gateway(o) => &mut o.metadata,
        MeshObject::Sidecar(o) => &mut o.metadata,
        MeshObject::WorkloadEntry(o) => &mut o.metadata,
        MeshObject::PeerAuthentication(o) => &mut o.metadata,
        MeshObject::AuthorizationPolicy(o) => &mut o.metadata,
        MeshObject::RequestAuthentication(o) => &mut o.metadata,
        MeshObject::Pod(o) => &mut o.metadata,
        MeshObject::EndpointSlice(o) => &mut o.metadata,
        MeshObject::Namespace(o) => &mut o.metadata,
    };
    meta.namespace = (!cluster_scoped).then(|| namespace.to_string());
}
