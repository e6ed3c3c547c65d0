//! Istio's `StringMatch`: how a URI, header, query parameter or origin is matched.
//!
//! Written `{exact: v}`, `{prefix: v}` or `{regex: v}`; `{}` is accepted too, as Istio
//! does: for headers and query parameters it means "present, with any value". Regexes
//! are RE2 syntax (Envoy's engine) and must match the whole value; they are checked
//! when the document is read, so that a bad one is reported against its document
//! rather than rejected later by the proxy.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How a string value is matched.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StringMatch {
    /// `exact: v`: the value equals `v`.
    Exact(String),
    /// `prefix: v`: the value starts with `v`.
    Prefix(String),
    /// `regex: v`: the whole value matches the RE2 regular expression `v`.
    Regex(String),
    /// `{}`: any value; a header or query parameter must be present (Envoy's
    /// `present_match`), a URI, method, scheme or authority always matches.
    Present,
}

/// The wire form, checked before it becomes a [`StringMatch`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StringMatchFields {
    exact: Option<String>,
    prefix: Option<String>,
    regex: Option<String>,
}

impl StringMatch {
    /// The string the match compares against, `None` for [`StringMatch::Present`].
    pub fn value(&self) -> Option<&str> {
        match self {
            StringMatch::Exact(v) | StringMatch::Prefix(v) | StringMatch::Regex(v) => Some(v),
            StringMatch::Present => None,
        }
    }
}

/// Checks that `pattern` is a regular expression Envoy's RE2 engine will accept.
///
/// Rust's `regex` crate shares RE2's syntax and guarantees (no look-around, no
/// back-references), so what it accepts RE2 accepts.
pub(crate) fn check_regex(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("regex must not be empty".to_string());
    }
    regex::Regex::new(pattern)
        .map(|_| ())
        .map_err(|e| format!("invalid regex {pattern:?} (RE2 syntax expected): {e}"))
}

/// `deserialize_with` helper for optional fields holding a regex.
pub(crate) fn deserialize_regex<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let pattern = Option::<String>::deserialize(deserializer)?;
    if let Some(p) = &pattern {
        check_regex(p).map_err(serde::de::Error::custom)?;
    }
    Ok(pattern)
}

impl TryFrom<StringMatchFields> for StringMatch {
    type Error = String;

    fn try_from(fields: StringMatchFields) -> Result<Self, Self::Error> {
        match (fields.exact, fields.prefix, fields.regex) {
            (None, None, None) => Ok(StringMatch::Present),
            (Some(v), None, None) => Ok(StringMatch::Exact(v)),
            (None, Some(v), None) => Ok(StringMatch::Prefix(v)),
            (None, None, Some(v)) => {
                check_regex(&v)?;
                Ok(StringMatch::Regex(v))
            }
            _ => Err("a string match takes only one of `exact`, `prefix` or `regex`".to_string()),
        }
    }
}

impl Serialize for StringMatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A one-entry map, not serde's enum form: the YAML serializer would write `!exact v`.
        let entry = match self {
            StringMatch::Exact(v) => Some(("exact", v)),
            StringMatch::Prefix(v) => Some(("prefix", v)),
            StringMatch::Regex(v) => Some(("regex", v)),
            StringMatch::Present => None,
        };
        let mut map = serializer.serialize_map(Some(usize::from(entry.is_some())))?;
        if let Some((key, value)) = entry {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StringMatch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        StringMatchFields::deserialize(deserializer)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for StringMatch {
    fn schema_name() -> Cow<'static, str> {
        "StringMatch".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Istio's schema: three optional strings, at most one of them set.
        json_schema!({
            "type": "object",
            "properties": {
                "exact": { "type": "string" },
                "prefix": { "type": "string" },
                "regex": {
                    "description": "[RE2 style regex-based match](https://github.com/google/re2/wiki/Syntax).",
                    "type": "string"
                }
            },
            "oneOf": [
                { "not": { "anyOf": [
                    { "required": ["exact"] },
                    { "required": ["prefix"] },
                    { "required": ["regex"] }
                ] } },
                { "required": ["exact"] },
                { "required": ["prefix"] },
                { "required": ["regex"] }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: serde_json::Value) -> Result<StringMatch, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_each_kind_of_match() {
        assert_eq!(
            parse(json!({"exact": "/a"})),
            Ok(StringMatch::Exact("/a".into()))
        );
        assert_eq!(
            parse(json!({"prefix": "/a"})),
            Ok(StringMatch::Prefix("/a".into()))
        );
        assert_eq!(
            parse(json!({"regex": "^/a.*"})),
            Ok(StringMatch::Regex("^/a.*".into()))
        );
        assert_eq!(parse(json!({})), Ok(StringMatch::Present));
    }

    #[test]
    fn yaml_round_trip_keeps_the_map_form() {
        let m: StringMatch = serde_norway::from_str("prefix: /foo").unwrap();
        assert_eq!(m, StringMatch::Prefix("/foo".into()));
        assert_eq!(serde_norway::to_string(&m).unwrap(), "prefix: /foo\n");
        assert_eq!(
            serde_json::to_value(&StringMatch::Present).unwrap(),
            json!({})
        );
    }

    #[test]
    fn rejects_invalid_regex_two_kinds_and_unknown_keys() {
        let err = parse(json!({"regex": "(unclosed"})).unwrap_err();
        assert!(err.contains("invalid regex \"(unclosed\""), "{err}");
        let err = parse(json!({"regex": "(?=lookahead)"})).unwrap_err();
        assert!(err.contains("invalid regex"), "{err}");
        let err = parse(json!({"exact": "a", "prefix": "b"})).unwrap_err();
        assert!(err.contains("only one of"), "{err}");
        let err = parse(json!({"suffix": "a"})).unwrap_err();
        assert!(err.contains("unknown field `suffix`"), "{err}");
        assert!(parse(json!(null)).is_err());
    }
}
