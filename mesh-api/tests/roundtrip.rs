//! Documents read into our types and written back come out unchanged: maximal documents
//! generated from Istio's schemas (every field set), Istio's bookinfo-style samples, and
//! bad documents rejected with a message that names the problem.

#[path = "support/istio_schema.rs"]
mod istio_schema;

use std::collections::BTreeSet;

use mesh_api::networking::{
    DestinationRule, Gateway, ServiceEntry, Sidecar, VirtualService, WorkloadEntry,
};
use mesh_api::security::{AuthorizationPolicy, PeerAuthentication, RequestAuthentication};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use istio_schema::{KINDS, is_duration, is_unsupported, istio_root, one_of_groups};

/// Duration fields Istio does not validate as durations, found by name.
const UNCHECKED_DURATIONS: &[&str] = &["idleTimeout", "budgetInterval", "ttl"];

/// A plausible value for every property of `schema`; in each `oneOf` group the
/// alternative at index `choice` (or the last) is the one set.
fn sample(kind: &str, schema: &Value, path: &str, name: &str, choice: usize) -> Value {
    if schema.get("x-kubernetes-int-or-string").is_some() {
        return json!(7);
    }
    match schema["type"].as_str() {
        Some("object") => sample_object(kind, schema, path, choice),
        Some("array") => json!([sample(
            kind,
            &schema["items"],
            &format!("{path}[]"),
            name,
            choice
        )]),
        Some("string") => sample_string(schema, path, name),
        Some("integer") => {
            let min = schema["minimum"].as_f64().unwrap_or(f64::MIN);
            let max = schema["maximum"].as_f64().unwrap_or(f64::MAX);
            json!(7f64.clamp(min, max) as i64)
        }
        Some("number") => json!(12.5f64.clamp(
            schema["minimum"].as_f64().unwrap_or(f64::MIN),
            schema["maximum"].as_f64().unwrap_or(f64::MAX)
        )),
        Some("boolean") => json!(true),
        other => panic!("{kind} {path}: no sample for type {other:?}"),
    }
}

fn sample_object(kind: &str, schema: &Value, path: &str, choice: usize) -> Value {
    let excluded: BTreeSet<String> = one_of_groups(schema)
        .into_iter()
        .flat_map(|group| {
            let pick = choice.min(group.len() - 1);
            group
                .into_iter()
                .enumerate()
                .filter(move |(i, _)| *i != pick)
                .map(|(_, n)| n)
        })
        .collect();
    let mut object = serde_json::Map::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        let child = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        if !excluded.contains(name) && !is_unsupported(kind, &child) {
            object.insert(name.clone(), sample(kind, property, &child, name, choice));
        }
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        // portLevelMtls is keyed by port number.
        let key = if path.ends_with("portLevelMtls") {
            "8080"
        } else {
            "key-1"
        };
        let value = sample(kind, values, &format!("{path}{{}}"), key, choice);
        object.insert(key.to_string(), value);
    }
    Value::Object(object)
}

fn sample_string(schema: &Value, path: &str, name: &str) -> Value {
    if let Some(values) = schema["enum"].as_array() {
        let first = values
            .iter()
            .find(|v| *v != "UNSPECIFIED")
            .unwrap_or(&values[0]);
        return first.clone();
    }
    if is_duration(schema) || UNCHECKED_DURATIONS.contains(&name) {
        return json!("1.5s");
    }
    if name == "regex" || path.ends_with("uriRegexRewrite.match") {
        return json!("^/api/v[0-9]+(/.*)?$");
    }
    if schema["format"] == "byte" {
        return json!("aGVsbG8gd29ybGQ=");
    }
    json!(format!("{name}-value"))
}

fn api_version(kind: &str) -> &'static str {
    if matches!(
        kind,
        "PeerAuthentication" | "AuthorizationPolicy" | "RequestAuthentication"
    ) {
        "security.mesh.dev/v1alpha1"
    } else {
        "networking.mesh.dev/v1alpha1"
    }
}

/// Reads `doc` as `K` from JSON and from YAML, writes it back both ways and returns
/// the spec as written; every path must agree.
fn through<K: DeserializeOwned + Serialize>(doc: &Value) -> Result<Value, String> {
    let spec_of = |object: &K| serde_json::to_value(object).map(|v| v["spec"].clone());
    let from_json: K = serde_json::from_value(doc.clone()).map_err(|e| format!("JSON: {e}"))?;
    let spec = spec_of(&from_json).map_err(|e| e.to_string())?;
    let yaml = serde_norway::to_string(doc).map_err(|e| e.to_string())?;
    let from_yaml: K = serde_norway::from_str(&yaml).map_err(|e| format!("YAML: {e}"))?;
    let written = serde_norway::to_string(&from_yaml).map_err(|e| e.to_string())?;
    let reread: K =
        serde_norway::from_str(&written).map_err(|e| format!("our YAML: {e}\n{written}"))?;
    for (how, object) in [("YAML", &from_yaml), ("our YAML written back", &reread)] {
        let other = spec_of(object).map_err(|e| e.to_string())?;
        if other != spec {
            return Err(format!("{how} reads differently:\n{other:#}\nvs\n{spec:#}"));
        }
    }
    Ok(spec)
}

/// The spec of `doc` after a trip through the typed object of its kind.
fn round_trip(doc: &Value) -> Result<Value, String> {
    match doc["kind"].as_str().unwrap_or_default() {
        "VirtualService" => through::<VirtualService>(doc),
        "DestinationRule" => through::<DestinationRule>(doc),
        "ServiceEntry" => through::<ServiceEntry>(doc),
        "Gateway" => through::<Gateway>(doc),
        "Sidecar" => through::<Sidecar>(doc),
        "WorkloadEntry" => through::<WorkloadEntry>(doc),
        "PeerAuthentication" => through::<PeerAuthentication>(doc),
        "AuthorizationPolicy" => through::<AuthorizationPolicy>(doc),
        "RequestAuthentication" => through::<RequestAuthentication>(doc),
        other => Err(format!("unexpected kind {other:?}")),
    }
}

/// Numbers as floats, so that `value: 100` and `value: 100.0` compare equal.
fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

#[test]
fn maximal_documents_from_istios_schemas_round_trip_unchanged() {
    // The largest oneOf group has four alternatives; cover each of them.
    for choice in 0..4 {
        for kind in KINDS {
            let root = istio_root(kind);
            let spec = sample(kind, &root["properties"]["spec"], "spec", "spec", choice);
            let doc = json!({
                "apiVersion": api_version(kind),
                "kind": kind,
                "metadata": {"name": "maximal", "namespace": "default"},
                "spec": spec,
            });
            let back = round_trip(&doc).unwrap_or_else(|e| panic!("{kind} (choice {choice}): {e}"));
            assert_eq!(
                back, doc["spec"],
                "{kind} (choice {choice}) lost or changed fields"
            );
        }
    }
}

#[test]
fn bookinfo_samples_round_trip_unchanged() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/fixtures");
    let mut kinds_seen = BTreeSet::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (index, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let doc: Value = serde::Deserialize::deserialize(document).unwrap();
            let at = format!("{} document {}", file.display(), index + 1);
            let back = round_trip(&doc).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                normalize(back),
                normalize(doc["spec"].clone()),
                "{at} changed"
            );
            kinds_seen.insert(doc["kind"].as_str().unwrap().to_string());
        }
    }
    let all: BTreeSet<String> = KINDS.iter().map(|k| k.to_string()).collect();
    assert_eq!(kinds_seen, all, "every kind has a sample");
}

/// The error reading `yaml` as `K`: the field path and the message.
fn read_error<K: DeserializeOwned>(yaml: &str) -> (String, String) {
    let result: Result<K, _> =
        serde_path_to_error::deserialize(serde_norway::Deserializer::from_str(yaml));
    match result {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => (e.path().to_string(), e.into_inner().to_string()),
    }
}

const VS_HEAD: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [r]\n";

#[test]
fn unknown_field_is_an_error_that_names_it() {
    let yaml = format!("{VS_HEAD}  http:\n  - rout:\n    - destination: {{host: r}}\n");
    let (path, message) = read_error::<VirtualService>(&yaml);
    assert_eq!(path, "spec.http[0].rout");
    assert!(message.contains("unknown field `rout`"), "{message}");
    assert!(
        message.contains("`route`"),
        "the message lists the valid fields: {message}"
    );
}

#[test]
fn invalid_enum_value_is_an_error() {
    let yaml = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n  host: r\n  trafficPolicy:\n    loadBalancer: {simple: FASTEST}\n";
    let (path, message) = read_error::<DestinationRule>(yaml);
    assert_eq!(path, "spec.trafficPolicy.loadBalancer.simple");
    assert!(message.contains("unknown variant `FASTEST`"), "{message}");
    assert!(message.contains("LEAST_REQUEST"), "{message}");
}

#[test]
fn invalid_duration_is_an_error() {
    let yaml = format!(
        "{VS_HEAD}  http:\n  - timeout: 10 seconds\n    route:\n    - destination: {{host: r}}\n"
    );
    let (path, message) = read_error::<VirtualService>(&yaml);
    assert_eq!(path, "spec.http[0].timeout");
    assert!(
        message.contains("invalid duration \"10 seconds\""),
        "{message}"
    );
}

#[test]
fn invalid_regex_is_an_error() {
    let yaml = format!("{VS_HEAD}  http:\n  - match:\n    - uri: {{regex: '/api/(v1'}}\n");
    let (path, message) = read_error::<VirtualService>(&yaml);
    assert_eq!(path, "spec.http[0].match[0].uri");
    assert!(message.contains("invalid regex \"/api/(v1\""), "{message}");
}

#[test]
fn missing_required_field_is_an_error() {
    let yaml = format!("{VS_HEAD}  http:\n  - route:\n    - destination: {{subset: v1}}\n");
    let (path, message) = read_error::<VirtualService>(&yaml);
    assert_eq!(path, "spec.http[0].route[0].destination");
    assert!(message.contains("missing field `host`"), "{message}");
}

#[test]
fn exclusive_fields_set_together_are_an_error() {
    let yaml = format!(
        "{VS_HEAD}  http:\n  - fault:\n      delay: {{fixedDelay: 1s, exponentialDelay: 2s}}\n"
    );
    let (path, message) = read_error::<VirtualService>(&yaml);
    assert_eq!(path, "spec.http[0].fault.delay");
    assert!(
        message.contains("only one of `fixedDelay`, `exponentialDelay`"),
        "{message}"
    );
}
