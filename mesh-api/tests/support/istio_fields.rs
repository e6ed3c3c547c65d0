//! Reads the table of Istio's CRD fields (`tests/data/istio-crd-fields.txt`, written
//! by `cargo xtask istio-fields`, whose header describes the format) back into schema
//! trees shaped as Istio's `openAPIV3Schema`, holding exactly the keywords the tests
//! read: `type`, `format`, `minimum`, `maximum`, `enum`, `required`, `oneOf`/`allOf`,
//! `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`, `properties`,
//! `items` and `additionalProperties`, plus [`DURATION`].

use serde_json::{Map, Value, json};

/// Set on a string Istio validates as a duration (a CEL rule on `duration(self)`).
pub(crate) const DURATION: &str = "x-mesh-duration";

/// The schema that some versions of a kind share.
#[derive(Debug)]
pub(crate) struct IstioSchema {
    pub(crate) kind: String,
    pub(crate) versions: Vec<String>,
    pub(crate) schema: Value,
}

/// One step of a table path.
enum Step<'a> {
    Property(&'a str),
    Items,
    MapValues,
}

/// Every block of the table, in order; the error names the line.
pub(crate) fn parse(table: &str) -> Result<Vec<IstioSchema>, String> {
    let mut schemas: Vec<IstioSchema> = Vec::new();
    for (index, line) in table.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}", index + 1);
        let mut words = line.split_whitespace();
        match words.next() {
            None => {}
            Some(comment) if comment.starts_with('#') => {}
            Some("kind") => {
                // The group (Istio's own, `*.istio.io`) is there for the reader.
                let (Some(kind), Some(_group)) = (words.next(), words.next()) else {
                    return Err(at("expected `kind <Kind> <group> <versions>`".into()));
                };
                schemas.push(IstioSchema {
                    kind: kind.to_string(),
                    versions: words.map(str::to_string).collect(),
                    schema: Value::Null,
                });
            }
            Some(path) => {
                let schema = schemas
                    .last_mut()
                    .ok_or_else(|| at("a field before the first `kind` line".into()))?;
                let ty = words.next().ok_or_else(|| at(format!("{path}: no type")))?;
                let node = node(ty, words).map_err(|e| at(format!("{path}: {e}")))?;
                insert(&mut schema.schema, path, node).map_err(|e| at(format!("{path}: {e}")))?;
            }
        }
    }
    Ok(schemas)
}

/// A schema node from its type and facts.
fn node<'a>(ty: &str, facts: impl Iterator<Item = &'a str>) -> Result<Value, String> {
    let mut node = Map::new();
    match ty {
        "int-or-string" => {
            node.insert("x-kubernetes-int-or-string".into(), json!(true));
        }
        "object" | "array" | "string" | "integer" | "number" | "boolean" => {
            node.insert("type".into(), json!(ty));
        }
        other => return Err(format!("unknown type {other:?}")),
    }
    let mut exclusive = Vec::new();
    for fact in facts {
        let (name, value) = fact.split_once('=').unwrap_or((fact, ""));
        let list = || Value::from(value.split(',').collect::<Vec<_>>());
        let number = || {
            serde_json::from_str::<serde_json::Number>(value)
                .map(Value::Number)
                .map_err(|e| format!("{fact}: {e}"))
        };
        let (keyword, value) = match name {
            "format" => ("format", json!(value)),
            "min" => ("minimum", number()?),
            "max" => ("maximum", number()?),
            "enum" => ("enum", list()),
            "required" => ("required", list()),
            "preserve-unknown-fields" => ("x-kubernetes-preserve-unknown-fields", json!(true)),
            "duration" => (DURATION, json!(true)),
            "at-most-one-of" => {
                exclusive.push(at_most_one_of(value.split(',')));
                continue;
            }
            _ => return Err(format!("unknown fact {fact:?}")),
        };
        node.insert(keyword.into(), value);
    }
    // Istio writes one group as `oneOf` and several as `allOf` of `oneOf`s.
    match exclusive.len() {
        0 => {}
        1 => {
            node.insert("oneOf".into(), exclusive.remove(0));
        }
        _ => {
            let all_of = exclusive.into_iter().map(|g| json!({"oneOf": g})).collect();
            node.insert("allOf".into(), Value::Array(all_of));
        }
    }
    Ok(Value::Object(node))
}

/// Istio's spelling of "at most one of `names`": none of them, or exactly one.
fn at_most_one_of<'a>(names: impl Iterator<Item = &'a str>) -> Value {
    let each: Vec<Value> = names.map(|n| json!({"required": [n]})).collect();
    let mut alternatives = vec![json!({"not": {"anyOf": each.clone()}})];
    alternatives.extend(each);
    Value::Array(alternatives)
}

/// Puts `node` at `path` under `root`, whose parent must already be there.
fn insert(root: &mut Value, path: &str, node: Value) -> Result<(), String> {
    if path == "<root>" {
        if !root.is_null() {
            return Err("a second root".into());
        }
        *root = node;
        return Ok(());
    }
    let steps = steps(path)?;
    let (last, parents) = steps.split_last().ok_or("an empty path")?;
    let mut parent = &mut *root;
    for step in parents {
        let child = match step {
            Step::Property(name) => parent.get_mut("properties").and_then(|p| p.get_mut(*name)),
            Step::Items => parent.get_mut("items"),
            Step::MapValues => parent.get_mut("additionalProperties"),
        };
        parent = child.ok_or("its parent has not been listed before it")?;
    }
    let parent = parent
        .as_object_mut()
        .ok_or("its parent has not been listed before it")?;
    let slot = match last {
        Step::Property(name) => parent
            .entry("properties")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .ok_or("properties is not a map")?
            .entry(name.to_string()),
        Step::Items => parent.entry("items"),
        Step::MapValues => parent.entry("additionalProperties"),
    };
    match slot {
        serde_json::map::Entry::Vacant(slot) => {
            slot.insert(node);
            Ok(())
        }
        serde_json::map::Entry::Occupied(_) => Err("listed twice".into()),
    }
}

/// `spec.http[].headers{}` → spec, http, items, headers, map values.
fn steps(path: &str) -> Result<Vec<Step<'_>>, String> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[]") {
            steps.push(Step::Items);
            rest = after;
        } else if let Some(after) = rest.strip_prefix("{}") {
            steps.push(Step::MapValues);
            rest = after;
        } else {
            let name = rest.strip_prefix('.').unwrap_or(rest);
            if !steps.is_empty() && !rest.starts_with('.') {
                return Err(format!("expected `.`, `[]` or `{{}}` at {rest:?}"));
            }
            let end = name.find(['.', '[', '{']).unwrap_or(name.len());
            if end == 0 {
                return Err(format!("an empty name at {rest:?}"));
            }
            steps.push(Step::Property(&name[..end]));
            rest = &name[end..];
        }
    }
    Ok(steps)
}
