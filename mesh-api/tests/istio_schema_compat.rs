//! Every field Istio's published schemas accept for our nine kinds is accepted by our
//! CRDs with the same name, type, enum values, list and map shape, required fields and
//! `oneOf` groups, or is listed in `crds::UNSUPPORTED_FIELDS`; and ours invent nothing.

#[path = "support/istio_schema.rs"]
mod istio_schema;

use std::collections::BTreeSet;

use mesh_api::crds::UNSUPPORTED_FIELDS;
use serde_json::Value;

use istio_schema::{KINDS, is_unsupported, istio_root, istio_schemas, our_root};

/// Walks Istio's schema and ours together, collecting every difference.
struct Comparison<'a> {
    kind: &'a str,
    mismatches: Vec<String>,
}

impl Comparison<'_> {
    fn mismatch(&mut self, path: &str, what: impl std::fmt::Display) {
        let path = if path.is_empty() { "<root>" } else { path };
        self.mismatches
            .push(format!("{} {path}: {what}", self.kind));
    }

    fn compare(&mut self, istio: &Value, ours: &Value, path: &str) {
        self.compare_type(istio, ours, path);
        self.compare_enum(istio, ours, path);
        self.compare_flag(istio, ours, path, "x-kubernetes-preserve-unknown-fields");
        self.compare_required(istio, ours, path);
        self.compare_one_of(istio, ours, path);
        self.compare_properties(istio, ours, path);

        match (istio.get("items"), ours.get("items")) {
            (Some(i), Some(o)) => self.compare(i, o, &format!("{path}[]")),
            (None, None) => {}
            (i, o) => self.mismatch(path, format!("list items: Istio {i:?}, ours {o:?}")),
        }
        let map_values = |s: &Value| {
            s.get("additionalProperties")
                .filter(|a| a.is_object())
                .cloned()
        };
        match (map_values(istio), map_values(ours)) {
            (Some(i), Some(o)) => self.compare(&i, &o, &format!("{path}{{}}")),
            (None, None) => {}
            (i, o) => self.mismatch(path, format!("map values: Istio {i:?}, ours {o:?}")),
        }
    }

    fn compare_type(&mut self, istio: &Value, ours: &Value, path: &str) {
        let int_or_string = "x-kubernetes-int-or-string";
        if istio.get(int_or_string).is_some() || ours.get(int_or_string).is_some() {
            // Istio spells int-or-string with an `anyOf` of both types, kube with the flag
            // alone; the flag is what the API server goes by.
            self.compare_flag(istio, ours, path, int_or_string);
            return;
        }
        if istio.get("type") != ours.get("type") {
            self.mismatch(
                path,
                format!(
                    "type: Istio {:?}, ours {:?}",
                    istio.get("type"),
                    ours.get("type")
                ),
            );
            return;
        }
        if istio["type"] == "integer" {
            self.compare_integer_range(istio, ours, path);
        }
        // Integer formats are checked as ranges above; these must be equal.
        let format = istio
            .get("format")
            .filter(|f| ["byte", "date-time", "double"].iter().any(|x| *f == x));
        if let Some(format) = format
            && ours.get("format") != Some(format)
        {
            self.mismatch(
                path,
                format!("format: Istio {format}, ours {:?}", ours.get("format")),
            );
        }
    }

    /// Every integer Istio accepts must fit our Rust type.
    fn compare_integer_range(&mut self, istio: &Value, ours: &Value, path: &str) {
        let istio_range = match istio.get("format").and_then(Value::as_str) {
            Some("int32") => (i128::from(i32::MIN), i128::from(i32::MAX)),
            Some("int64") => (i128::from(i64::MIN), i128::from(i64::MAX)),
            _ => (
                istio
                    .get("minimum")
                    .and_then(Value::as_f64)
                    .map_or(i128::from(i64::MIN), |m| m as i128),
                istio
                    .get("maximum")
                    .and_then(Value::as_f64)
                    .map_or(i128::from(u64::MAX), |m| m as i128),
            ),
        };
        let our_range = match ours.get("format").and_then(Value::as_str) {
            Some("int32") => (i128::from(i32::MIN), i128::from(i32::MAX)),
            Some("uint32") => (0, i128::from(u32::MAX)),
            Some("int64") => (i128::from(i64::MIN), i128::from(i64::MAX)),
            Some("uint64") => (0, i128::from(u64::MAX)),
            // Unsigned fields carry bounds instead of a format the API server knows.
            None if ours.get("minimum").is_some() => (
                ours.get("minimum")
                    .and_then(Value::as_f64)
                    .map_or(i128::from(i64::MIN), |m| m as i128),
                ours.get("maximum")
                    .and_then(Value::as_f64)
                    .map_or(i128::from(u64::MAX), |m| m as i128),
            ),
            other => {
                self.mismatch(path, format!("integer of unknown width {other:?}"));
                return;
            }
        };
        if our_range.0 > istio_range.0 || our_range.1 < istio_range.1 {
            self.mismatch(
                path,
                format!("integer range: Istio {istio_range:?}, ours {our_range:?}"),
            );
        }
    }

    fn compare_enum(&mut self, istio: &Value, ours: &Value, path: &str) {
        let values = |s: &Value| -> Option<BTreeSet<String>> {
            s.get("enum").and_then(Value::as_array).map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
        };
        if values(istio) != values(ours) {
            self.mismatch(
                path,
                format!("enum: Istio {:?}, ours {:?}", values(istio), values(ours)),
            );
        }
    }

    fn compare_flag(&mut self, istio: &Value, ours: &Value, path: &str, flag: &str) {
        let set = |s: &Value| s.get(flag) == Some(&Value::Bool(true));
        if set(istio) != set(ours) {
            self.mismatch(
                path,
                format!("{flag}: Istio {}, ours {}", set(istio), set(ours)),
            );
        }
    }

    fn compare_required(&mut self, istio: &Value, ours: &Value, path: &str) {
        let names = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        if names(istio) != names(ours) {
            self.mismatch(
                path,
                format!("required: Istio {:?}, ours {:?}", names(istio), names(ours)),
            );
        }
    }

    /// Istio's `oneOf` groups (exclusive fields) are enforced by our schema too.
    fn compare_one_of(&mut self, istio: &Value, ours: &Value, path: &str) {
        if istio.get("x-kubernetes-int-or-string").is_some() {
            return;
        }
        for keyword in ["oneOf", "allOf"] {
            if istio.get(keyword) != ours.get(keyword) {
                self.mismatch(
                    path,
                    format!(
                        "{keyword}: Istio {:?}, ours {:?}",
                        istio.get(keyword),
                        ours.get(keyword)
                    ),
                );
            }
        }
    }

    fn compare_properties(&mut self, istio: &Value, ours: &Value, path: &str) {
        let empty = serde_json::Map::new();
        let istio_props = istio
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let our_props = ours
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, istio_prop) in istio_props {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            match (our_props.get(name), is_unsupported(self.kind, &child)) {
                (Some(_), true) => {
                    self.mismatch(&child, "listed in UNSUPPORTED_FIELDS but modelled")
                }
                (Some(our_prop), false) => self.compare(istio_prop, our_prop, &child),
                (None, true) => {}
                (None, false) => self.mismatch(&child, "missing (Istio accepts it)"),
            }
        }
        for name in our_props.keys().filter(|n| !istio_props.contains_key(*n)) {
            let child = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            self.mismatch(&child, "not in Istio's schema (invented)");
        }
    }
}

#[test]
fn our_crds_accept_every_field_istio_accepts_and_nothing_else() {
    let mut all = Vec::new();
    for kind in KINDS {
        let mut comparison = Comparison {
            kind,
            mismatches: Vec::new(),
        };
        comparison.compare(&istio_root(kind), &our_root(kind), "");
        all.extend(comparison.mismatches);
    }
    assert!(
        all.is_empty(),
        "{} schema mismatches:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[test]
fn istio_versions_of_each_kind_share_one_schema() {
    // `cargo xtask istio-fields` writes one block per distinct schema (descriptions
    // included) among a kind's versions, so one block means they are all the same.
    for kind in KINDS {
        let schemas = istio_schemas(kind);
        let versions: Vec<&Vec<String>> = schemas.iter().map(|(versions, _)| versions).collect();
        assert_eq!(
            versions.len(),
            1,
            "{kind}: Istio's versions do not share one schema: {versions:?}"
        );
        assert!(versions[0].iter().any(|v| v == "v1"), "{kind}: no v1");
    }
}

#[test]
fn every_unsupported_field_exists_in_istios_schema() {
    for field in UNSUPPORTED_FIELDS {
        assert!(
            KINDS.contains(&field.kind),
            "{field:?}: not one of our kinds"
        );
        let mut schema = istio_root(field.kind);
        for segment in field.path.split('.') {
            let (name, list) = match segment.strip_suffix("[]") {
                Some(name) => (name, true),
                None => (segment, false),
            };
            schema = schema["properties"][name].clone();
            assert!(!schema.is_null(), "{field:?}: Istio has no {name:?}");
            if list {
                schema = schema["items"].clone();
                assert!(
                    !schema.is_null(),
                    "{field:?}: {name:?} is not a list in Istio"
                );
            }
        }
        assert!(!field.reason.is_empty(), "{field:?}: give a reason");
    }
}

#[test]
fn unsupported_fields_doc_lists_exactly_the_table() {
    let doc_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/reference/unsupported-fields.md"
    );
    let doc =
        std::fs::read_to_string(doc_path).expect("docs/reference/unsupported-fields.md exists");
    // Table rows: `| Kind | `path` | reason |`, after the header and separator rows.
    let documented: BTreeSet<(String, String)> = doc
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| Kind") && !l.starts_with("|-"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].trim_matches('`').to_string())
        })
        .collect();
    let table: BTreeSet<(String, String)> = UNSUPPORTED_FIELDS
        .iter()
        .map(|f| (f.kind.to_string(), f.path.to_string()))
        .collect();
    assert_eq!(
        documented, table,
        "docs/reference/unsupported-fields.md and crds::UNSUPPORTED_FIELDS disagree"
    );
    if table.is_empty() {
        assert!(doc.contains("None"), "say that no field is unsupported");
    }
}
