//! One kind's schema from Istio's CRD file, reduced to the lines of the fields table:
//! `<path> <type> [facts…]` per schema node, the facts being exactly what mesh-api's
//! compatibility and round-trip tests read. Every other keyword is named in
//! [`IGNORED`]; a keyword in neither list stops the generator, so that a fact Istio
//! adds is never dropped unnoticed.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

/// Keywords the tests do not read (prose, length and size limits, patterns, list
/// keys, nullability); the generator leaves them out.
const IGNORED: [&str; 11] = [
    "description",
    "maxItems",
    "maxLength",
    "maxProperties",
    "minItems",
    "minLength",
    "minProperties",
    "nullable",
    "pattern",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-list-type",
];

/// Keywords recorded as facts, or walked into (`properties`, `items`,
/// `additionalProperties`).
const RECORDED: [&str; 15] = [
    "type",
    "format",
    "minimum",
    "maximum",
    "enum",
    "required",
    "oneOf",
    "allOf",
    "anyOf",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-validations",
    "properties",
    "items",
    "additionalProperties",
];

/// The table lines of the schema rooted at `schema`, parents before children.
pub(super) fn lines(kind: &str, schema: &Value) -> Result<Vec<String>> {
    let mut out = Vec::new();
    walk(&mut out, schema, "").with_context(|| format!("{kind}: cannot reduce Istio's schema"))?;
    Ok(out)
}

fn walk(out: &mut Vec<String>, schema: &Value, path: &str) -> Result<()> {
    let shown = if path.is_empty() { "<root>" } else { path };
    let node = schema
        .as_object()
        .with_context(|| format!("{shown}: a schema node must be an object"))?;
    if let Some(key) = node
        .keys()
        .find(|k| !RECORDED.contains(&k.as_str()) && !IGNORED.contains(&k.as_str()))
    {
        bail!(
            "{shown}: keyword `{key}` is new; decide whether the compatibility test checks it \
             (record it in xtask/src/istio_fields/facts.rs and the test) or not (add it to IGNORED)"
        );
    }
    let facts = node_facts(node).with_context(|| format!("at {shown}"))?;
    out.push(format!("{shown} {}", facts.join(" ")));

    let mut properties: Vec<(&String, &Value)> = node
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .collect();
    properties.sort_by_key(|(name, _)| *name);
    for (name, child) in properties {
        if !is_plain_name(name) {
            bail!("{shown}: property name {name:?} cannot be written in a table path");
        }
        let child_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        walk(out, child, &child_path)?;
    }
    if let Some(items) = node.get("items") {
        walk(out, items, &format!("{path}[]"))?;
    }
    // A boolean `additionalProperties` is not a map's value schema; the tests skip it.
    if let Some(values) = node.get("additionalProperties").filter(|v| v.is_object()) {
        walk(out, values, &format!("{path}{{}}"))?;
    }
    Ok(())
}

/// The type, then the facts in a fixed order.
fn node_facts(node: &Map<String, Value>) -> Result<Vec<String>> {
    let mut facts = vec![node_type(node)?];
    if let Some(format) = node.get("format") {
        facts.push(format!("format={}", word(format)?));
    }
    for (keyword, name) in [("minimum", "min"), ("maximum", "max")] {
        if let Some(bound) = node.get(keyword) {
            let number = bound
                .as_number()
                .with_context(|| format!("{keyword} is not a number"))?;
            facts.push(format!("{name}={number}"));
        }
    }
    for keyword in ["enum", "required"] {
        if let Some(values) = node.get(keyword) {
            facts.push(format!("{keyword}={}", words(values)?.join(",")));
        }
    }
    for group in exclusive_groups(node)? {
        facts.push(format!("at-most-one-of={}", group.join(",")));
    }
    match node.get("x-kubernetes-preserve-unknown-fields") {
        Some(Value::Bool(true)) => facts.push("preserve-unknown-fields".to_string()),
        Some(Value::Bool(false)) | None => {}
        Some(other) => bail!("x-kubernetes-preserve-unknown-fields is {other}"),
    }
    // The round-trip test fills a string validated by `duration(self)` with a duration.
    if let Some(rules) = node.get("x-kubernetes-validations")
        && rules.to_string().contains("duration(self)")
    {
        facts.push("duration".to_string());
    }
    Ok(facts)
}

/// `type`, or `int-or-string` for Kubernetes' integer-or-string (no `type`, an `anyOf`
/// of both); `anyOf` anywhere else is not something the table can hold.
fn node_type(node: &Map<String, Value>) -> Result<String> {
    let int_or_string = serde_json::json!([{"type": "integer"}, {"type": "string"}]);
    match (
        node.get("type"),
        node.get("x-kubernetes-int-or-string"),
        node.get("anyOf"),
    ) {
        (Some(ty), None, None) => word(ty),
        (None, Some(Value::Bool(true)), Some(any_of)) if *any_of == int_or_string => {
            Ok("int-or-string".to_string())
        }
        (ty, flag, any_of) => {
            bail!(
                "unexpected type {ty:?} with x-kubernetes-int-or-string {flag:?}, anyOf {any_of:?}"
            )
        }
    }
}

/// Istio's exclusive fields: `oneOf: [{not: {anyOf: [{required: [a]}, …]}},
/// {required: [a]}, …]` ("at most one of a, …"), directly or, for several groups,
/// as `allOf: [{oneOf: …}, …]`. Anything else is refused: the tests compare these
/// keywords exactly, so the table must give them back exactly.
fn exclusive_groups(node: &Map<String, Value>) -> Result<Vec<Vec<String>>> {
    match (node.get("oneOf"), node.get("allOf")) {
        (None, None) => Ok(Vec::new()),
        (Some(one_of), None) => Ok(vec![at_most_one_of(one_of)?]),
        (None, Some(Value::Array(all_of))) if all_of.len() >= 2 => all_of
            .iter()
            .map(|entry| match entry.as_object() {
                Some(entry) if entry.len() == 1 && entry.contains_key("oneOf") => {
                    at_most_one_of(&entry["oneOf"])
                }
                _ => bail!("allOf entry {entry} is not a lone oneOf"),
            })
            .collect(),
        (one_of, all_of) => {
            bail!("oneOf {one_of:?} with allOf {all_of:?} is not one the table can hold")
        }
    }
}

fn at_most_one_of(one_of: &Value) -> Result<Vec<String>> {
    let alternatives = one_of.as_array().context("oneOf is not a list")?;
    let (none_set, each) = alternatives
        .split_first()
        .context("oneOf is an empty list")?;
    let names: Vec<String> = each
        .iter()
        .map(|alternative| {
            lone_required(alternative).with_context(|| format!("oneOf alternative {alternative}"))
        })
        .collect::<Result<_>>()?;
    let expected_none_set = serde_json::json!({"not": {"anyOf": each}});
    if names.is_empty() || *none_set != expected_none_set {
        bail!("oneOf {one_of} is not \"at most one of\" its alternatives");
    }
    Ok(names)
}

/// The name in `{required: [name]}`.
fn lone_required(alternative: &Value) -> Result<String> {
    let object = alternative.as_object().context("not an object")?;
    match object.get("required").and_then(Value::as_array) {
        Some(names) if object.len() == 1 && names.len() == 1 => word(&names[0]),
        _ => bail!("not {{required: [name]}}"),
    }
}

/// A string that can stand in a table line as it is.
fn word(value: &Value) -> Result<String> {
    match value.as_str() {
        Some(s) if !s.is_empty() && !s.contains([' ', '\t', ',', '=', '#']) => Ok(s.to_string()),
        _ => {
            bail!("{value} cannot be written in the table (a string without spaces, `,`, `=`, `#`)")
        }
    }
}

fn words(values: &Value) -> Result<Vec<String>> {
    values
        .as_array()
        .with_context(|| format!("{values} is not a list"))?
        .iter()
        .map(word)
        .collect()
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests;
