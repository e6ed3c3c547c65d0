//! Istio's published CRD schemas (as kept in `tests/data/istio-crd-fields.txt`) and
//! ours, side by side, for the compatibility and round-trip tests.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

use serde_json::Value;

#[path = "istio_fields.rs"]
mod istio_fields;

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

/// The table of Istio's fields, derived from Istio's CRD file by
/// `cargo xtask istio-fields`.
const ISTIO_FIELDS: &str = include_str!("../data/istio-crd-fields.txt");

/// Istio's schemas of `kind`: the versions that share each and the schema, in the
/// table's order.
pub(crate) fn istio_schemas(kind: &str) -> Vec<(Vec<String>, Value)> {
    istio_fields::parse(ISTIO_FIELDS)
        .unwrap_or_else(|e| panic!("tests/data/istio-crd-fields.txt: {e}"))
        .into_iter()
        .filter(|block| block.kind == kind)
        .map(|block| (block.versions, block.schema))
        .collect()
}

/// The root schema (`openAPIV3Schema`) of Istio's `v1` version of `kind`, holding
/// the facts the table keeps (see `istio_fields`).
pub(crate) fn istio_root(kind: &str) -> Value {
    istio_schemas(kind)
        .into_iter()
        .find(|(versions, _)| versions.iter().any(|v| v == "v1"))
        .map(|(_, schema)| schema)
        .unwrap_or_else(|| panic!("{kind} v1 is not in tests/data/istio-crd-fields.txt"))
}

/// Whether Istio validates the string `schema` as a duration.
pub(crate) fn is_duration(schema: &Value) -> bool {
    schema.get(istio_fields::DURATION) == Some(&Value::Bool(true))
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
