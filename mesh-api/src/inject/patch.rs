//! The JSONPatch (RFC 6902) from a pod to its injected form, made to be applied to
//! the pod *as it was sent*, which may hold fields this build's Kubernetes types do
//! not know (a newer apiserver's). A plain diff of two lists pairs elements by index,
//! so inserting `mesh-redirect` before a user's init container would rewrite that
//! container in place as `mesh-redirect`, carrying its unknown fields along. Here
//! lists of named objects (containers, volumes, env) are paired by name: existing
//! elements are patched where they are, then new ones are inserted.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// The operations that turn `before` into `after`, as a JSON array.
pub fn json_patch(before: &Value, after: &Value) -> Value {
    let mut ops = Vec::new();
    diff(before, after, &mut String::new(), &mut ops);
    Value::Array(ops)
}

fn diff(before: &Value, after: &Value, path: &mut String, ops: &mut Vec<Value>) {
    match (before, after) {
        _ if before == after => {}
        (Value::Object(b), Value::Object(a)) => objects(b, a, path, ops),
        (Value::Array(b), Value::Array(a)) if insertions_only(b, a) => named_lists(b, a, path, ops),
        _ => ops.push(json!({"op": "replace", "path": path.clone(), "value": after})),
    }
}

fn objects(
    b: &Map<String, Value>,
    a: &Map<String, Value>,
    path: &mut String,
    ops: &mut Vec<Value>,
) {
    for (key, old) in b {
        let len = path.len();
        push_key(path, key);
        match a.get(key) {
            Some(new) => diff(old, new, path, ops),
            None => ops.push(json!({"op": "remove", "path": path.clone()})),
        }
        path.truncate(len);
    }
    for (key, new) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
        let len = path.len();
        push_key(path, key);
        ops.push(json!({"op": "add", "path": path.clone(), "value": new}));
        path.truncate(len);
    }
}

/// Both lists are of objects with unique names, and `before`'s names appear in
/// `after` in the same order (injection adds; it never drops or reorders).
fn insertions_only(b: &[Value], a: &[Value]) -> bool {
    let (Some(old), Some(new)) = (names(b), names(a)) else {
        return false;
    };
    let mut remaining = new.iter();
    old.iter().all(|n| remaining.any(|m| m == n))
}

fn names(list: &[Value]) -> Option<Vec<&str>> {
    let names: Vec<&str> = list
        .iter()
        .map(|v| v.get("name").and_then(Value::as_str))
        .collect::<Option<_>>()?;
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    (unique.len() == names.len()).then_some(names)
}

fn named_lists(b: &[Value], a: &[Value], path: &mut String, ops: &mut Vec<Value>) {
    let name = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
    // Existing elements first, at their original indexes.
    for (i, old) in b.iter().enumerate() {
        if let Some(new) = a.iter().find(|n| name(n) == name(old)) {
            let len = path.len();
            path.push_str(&format!("/{i}"));
            diff(old, new, path, ops);
            path.truncate(len);
        }
    }
    // Then each new element at its final index: everything before it is in place.
    let old_names: BTreeSet<Option<String>> = b.iter().map(name).collect();
    for (i, new) in a.iter().enumerate() {
        if !old_names.contains(&name(new)) {
            ops.push(json!({"op": "add", "path": format!("{path}/{i}"), "value": new}));
        }
    }
}

/// RFC 6901: `~` and `/` in a key are escaped (`sidecar.istio.io/status`).
fn push_key(path: &mut String, key: &str) {
    path.push('/');
    path.push_str(&key.replace('~', "~0").replace('/', "~1"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_elements_are_patched_in_place_and_new_ones_inserted() {
        let before = json!({"metadata": {"annotations": {"a/b": "1", "gone": "x"}},
            "spec": {"containers": [{"name": "app", "image": "a"}]}});
        let after = json!({"metadata": {"annotations": {"a/b": "2", "c~d": "3"}},
            "spec": {"containers": [{"name": "proxy"}, {"name": "app", "image": "b"}]}});
        assert_eq!(
            json_patch(&before, &after),
            json!([
                {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
                {"op": "remove", "path": "/metadata/annotations/gone"},
                {"op": "add", "path": "/metadata/annotations/c~0d", "value": "3"},
                {"op": "replace", "path": "/spec/containers/0/image", "value": "b"},
                {"op": "add", "path": "/spec/containers/0", "value": {"name": "proxy"}},
            ])
        );
    }

    #[test]
    fn lists_that_are_not_insertions_are_replaced_whole() {
        let before = json!({"args": ["a", "b"], "c": [{"name": "x"}, {"name": "y"}]});
        let after = json!({"args": ["b"], "c": [{"name": "y"}, {"name": "x"}]});
        let ops = json_patch(&before, &after);
        assert_eq!(
            ops[0],
            json!({"op": "replace", "path": "/args", "value": ["b"]})
        );
        assert_eq!(ops[1]["path"], "/c", "reordered: replaced");
    }
}
