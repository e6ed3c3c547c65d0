//! Rejects fields Istio accepts that mesh does not implement yet, with a message that
//! says so, instead of the generic "unknown field" (the table is `crds::UNSUPPORTED_FIELDS`).

use crate::crds::UNSUPPORTED_FIELDS;
use crate::object::Kind;

/// An unsupported field present in a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundField {
    /// Concrete path, with indices: `spec.http[2].match[0].statPrefix`.
    pub(super) path: String,
    pub(super) reason: &'static str,
}

/// The first unsupported field set in `document`, if any.
pub(super) fn find(kind: Kind, document: &serde_norway::Value) -> Option<FoundField> {
    UNSUPPORTED_FIELDS
        .iter()
        .filter(|f| f.kind == kind.as_str())
        .find_map(|f| {
            let segments: Vec<&str> = f.path.split('.').collect();
            find_path(document, &segments, String::new()).map(|path| FoundField {
                path,
                reason: f.reason,
            })
        })
}

/// Follows `segments` (`http[]` means "every element of the list `http`") through `value`.
fn find_path(value: &serde_norway::Value, segments: &[&str], prefix: String) -> Option<String> {
    let Some((segment, rest)) = segments.split_first() else {
        return Some(prefix);
    };
    let (key, is_list) = match segment.strip_suffix("[]") {
        Some(key) => (key, true),
        None => (*segment, false),
    };
    let child = value.as_mapping()?.get(key)?;
    let path = if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    };
    if !is_list {
        return find_path(child, rest, path);
    }
    child
        .as_sequence()?
        .iter()
        .enumerate()
        .find_map(|(i, item)| find_path(item, rest, format!("{path}[{i}]")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_field_inside_lists_with_its_indices() {
        let doc: serde_norway::Value = serde_norway::from_str(
            "spec:\n  http:\n  - route: []\n  - match:\n    - {}\n    - odd: 1\n",
        )
        .unwrap();
        let segments = ["spec", "http[]", "match[]", "odd"];
        assert_eq!(
            find_path(&doc, &segments, String::new()).as_deref(),
            Some("spec.http[1].match[1].odd")
        );
        assert_eq!(find_path(&doc, &["spec", "tcp[]"], String::new()), None);
    }
}
