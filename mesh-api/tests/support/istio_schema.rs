//! Istio's published CRD schemas (`tests/data/istio-crds.gen.yaml`) and ours, side by
//! side, for the compatibility and round-trip tests.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;

/// Our kinds, in `crds::all()` order.
pub(crate) const KINDS: [&str; 9] = [
    "VirtualService",
    "DestinationRule",
    "ServiceEntry",
    "Gateway",
    "Sidecar",
    "WorkloadEntry",
    "PeerAuthentication",
    "AuthorizationPolicy",
    "RequestAuthentication",
];

const ISTIO_CRDS: &str = include_str!("../data/istio-crds.gen.yaml");

/// Istio's CRD of `kind` (in its `*.istio.io` group), as JSON.
pub(crate) fn istio_crd(kind: &str) -> Value {
    serde_norway::Deserializer::from_str(ISTIO_CRDS)
        .map(|doc| Value::deserialize(doc).expect("Istio's CRD file is valid YAML"))
        .find(|crd| {
            crd["spec"]["names"]["kind"] == kind
                && crd["spec"]["group"]
                    .as_str()
                    .is_some_and(|g| g.ends_with(".istio.io"))
        })
        .unwrap_or_else(|| panic!("{kind} is not in Istio's CRD file"))
}

/// The root schema (`openAPIV3Schema`) of Istio's `v1` version of `kind`.
pub(crate) fn istio_root(kind: &str) -> Value {
    let crd = istio_crd(kind);
    let versions = crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .clone();
    let v1 = versions
        .iter()
        .find(|v| v["name"] == "v1")
        .unwrap_or_else(|| panic!("{kind} has no v1 version"));
    v1["schema"]["openAPIV3Schema"].clone()
}

/// The root schema of our CRD of `kind`.
pub(crate) fn our_root(kind: &str) -> Value {
    let crd = mesh_api::crds::all()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("{kind} is not in crds::all()"));
    let [version] = crd.spec.versions.as_slice() else {
        panic!("{kind}: expected one version");
    };
    serde_json::to_value(&version.schema.as_ref().expect("schema").open_api_v3_schema)
        .expect("schema serializes")
}

/// Whether `path` of `kind` is listed in `UNSUPPORTED_FIELDS`.
pub(crate) fn is_unsupported(kind: &str, path: &str) -> bool {
    mesh_api::crds::UNSUPPORTED_FIELDS
        .iter()
        .any(|f| f.kind == kind && f.path == path)
}

/// The names of the properties a `oneOf` alternative (`{required: [name]}`) sets, for
/// every `oneOf` of `schema` (directly or under `allOf`), in order.
pub(crate) fn one_of_groups(schema: &Value) -> Vec<Vec<String>> {
    let direct = schema.get("oneOf").into_iter();
    let nested = schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("oneOf"));
    direct
        .chain(nested)
        .map(|one_of| {
            one_of
                .as_array()
                .expect("oneOf is a list")
                .iter()
                .filter_map(|alt| alt.get("required").and_then(Value::as_array))
                .flat_map(|names| names.iter().filter_map(Value::as_str).map(str::to_string))
                .collect()
        })
        .collect()
}
