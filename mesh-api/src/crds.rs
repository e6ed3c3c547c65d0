//! The CustomResourceDefinitions of the mesh kinds, generated from the Rust types, and
//! the Istio fields they do not accept yet.

mod status;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::CustomResourceExt;

use crate::networking::{
    DestinationRule, Gateway, ServiceEntry, Sidecar, VirtualService, WorkloadEntry,
};
use crate::security::{AuthorizationPolicy, PeerAuthentication, RequestAuthentication};

/// A field Istio's schema has that our types do not accept yet; documented in
/// `docs/reference/unsupported-fields.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedField {
    /// The kind, e.g. `VirtualService`.
    pub kind: &'static str,
    /// Path from the document root, `[]` marking every element of a list, e.g.
    /// `spec.http[].match[].statPrefix`.
    pub path: &'static str,
    /// Why it is not supported, for the error message and the docs.
    pub reason: &'static str,
}

/// Every field of Istio's schemas for our nine kinds is modelled, so none is listed.
/// `tests/istio_schema_compat.rs` proves the table complete and each entry real.
pub const UNSUPPORTED_FIELDS: &[UnsupportedField] = &[];

/// Our CRDs, in a stable order (networking kinds, then security kinds).
///
/// Use these rather than `Kind::crd()`: they also carry Istio's `status` schema and the
/// status subresource.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        VirtualService::crd(),
        DestinationRule::crd(),
        ServiceEntry::crd(),
        Gateway::crd(),
        Sidecar::crd(),
        WorkloadEntry::crd(),
        PeerAuthentication::crd(),
        AuthorizationPolicy::crd(),
        RequestAuthentication::crd(),
    ];
    for crd in &mut crds {
        status::add_status(crd);
        match_istio_spec_requirement(crd);
        replace_unsigned_formats(crd);
    }
    crds
}

/// schemars writes `format: uint32`/`uint64` for unsigned fields; the API server
/// knows no such format and warns about every one on `helm install`. Istio's CRDs
/// say the same with bounds, and so do ours (a negative value is still refused).
fn replace_unsigned_formats(crd: &mut CustomResourceDefinition) {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                // A uint64 gets no maximum (as Istio's): 2^64-1 is no exact float, and
                // YAML 1.1 readers take `1.8446744073709552e19` for a string.
                let maximum = match map.get("format").and_then(|f| f.as_str()) {
                    Some("uint32") => Some(Some(serde_json::json!(u32::MAX))),
                    Some("uint16") => Some(Some(serde_json::json!(u16::MAX))),
                    Some("uint8") => Some(Some(serde_json::json!(u8::MAX))),
                    Some("uint64") => Some(None),
                    _ => None,
                };
                if let Some(maximum) = maximum {
                    map.remove("format");
                    map.entry("minimum").or_insert(serde_json::json!(0));
                    if let Some(maximum) = maximum {
                        map.entry("maximum").or_insert(maximum);
                    }
                }
                map.values_mut().for_each(walk);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(&*crd) else {
        return;
    };
    walk(&mut value);
    if let Ok(replaced) = serde_json::from_value(value) {
        *crd = replaced;
    }
}

/// Kinds whose `spec` Istio's CRDs require; the others may omit it (an
/// AuthorizationPolicy without a spec is the documented deny-all).
const SPEC_REQUIRED: &[&str] = &["ServiceEntry", "WorkloadEntry"];

/// kube-derive always requires `spec`; relax that where Istio does not.
fn match_istio_spec_requirement(crd: &mut CustomResourceDefinition) {
    if SPEC_REQUIRED.contains(&crd.spec.names.kind.as_str()) {
        return;
    }
    for version in &mut crd.spec.versions {
        if let Some(root) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            if let Some(required) = root.required.as_mut() {
                required.retain(|r| r != "spec");
            }
            if root.required.as_ref().is_some_and(Vec::is_empty) {
                root.required = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_namespaced_crds_in_our_groups_with_istios_names() {
        let expected = [
            (
                "networking.mesh.dev",
                "VirtualService",
                "virtualservices",
                Some("vs"),
            ),
            (
                "networking.mesh.dev",
                "DestinationRule",
                "destinationrules",
                Some("dr"),
            ),
            (
                "networking.mesh.dev",
                "ServiceEntry",
                "serviceentries",
                Some("se"),
            ),
            ("networking.mesh.dev", "Gateway", "gateways", Some("gw")),
            ("networking.mesh.dev", "Sidecar", "sidecars", None),
            (
                "networking.mesh.dev",
                "WorkloadEntry",
                "workloadentries",
                Some("we"),
            ),
            (
                "security.mesh.dev",
                "PeerAuthentication",
                "peerauthentications",
                Some("pa"),
            ),
            (
                "security.mesh.dev",
                "AuthorizationPolicy",
                "authorizationpolicies",
                Some("ap"),
            ),
            (
                "security.mesh.dev",
                "RequestAuthentication",
                "requestauthentications",
                Some("ra"),
            ),
        ];
        let crds = all();
        assert_eq!(crds.len(), expected.len());
        for (crd, (group, kind, plural, short)) in crds.iter().zip(expected) {
            let spec = &crd.spec;
            assert_eq!(spec.group, group);
            assert_eq!(spec.names.kind, kind);
            assert_eq!(spec.names.plural, plural);
            assert_eq!(
                spec.names.singular.as_deref(),
                Some(kind.to_lowercase().as_str())
            );
            assert_eq!(
                spec.names.short_names.as_deref(),
                short.map(|s| vec![s.to_string()]).as_deref()
            );
            assert_eq!(spec.scope, "Namespaced");
            assert_eq!(
                crd.metadata.name.as_deref(),
                Some(format!("{plural}.{group}").as_str())
            );
            let [version] = spec.versions.as_slice() else {
                panic!("{kind}: expected exactly one version");
            };
            assert_eq!(version.name, "v1alpha1");
            assert!(version.served && version.storage);
            assert!(
                version
                    .subresources
                    .as_ref()
                    .is_some_and(|s| s.status.is_some()),
                "{kind}"
            );
            let root = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref());
            let properties = root
                .and_then(|r| r.properties.as_ref())
                .expect("root properties");
            assert!(
                properties.contains_key("spec") && properties.contains_key("status"),
                "{kind}"
            );
        }
    }
}
