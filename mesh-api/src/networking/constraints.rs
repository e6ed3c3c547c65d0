//! Istio's schema constraints that serde's derive cannot express, checked while a
//! document is read so that a bad field is reported with its path: `required` fields
//! (kept as `Option` like every other field) and `oneOf` groups (at most one set).

use serde::{Deserialize, Deserializer};

/// `deserialize_with` for a field Istio's schema marks required: a missing field (or
/// `null`) is an error, not `None`.
pub(crate) fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Checks one of Istio's `oneOf` groups: at most one of `fields` (name, is set) is set.
pub(crate) fn at_most_one(fields: &[(&str, bool)]) -> Result<(), String> {
    let set: Vec<&str> = fields
        .iter()
        .filter(|(_, is_set)| *is_set)
        .map(|(name, _)| *name)
        .collect();
    if set.len() <= 1 {
        return Ok(());
    }
    let names: Vec<String> = fields.iter().map(|(name, _)| format!("`{name}`")).collect();
    Err(format!(
        "only one of {} may be set, found `{}`",
        names.join(", "),
        set.join("` and `")
    ))
}

/// Implements `Serialize` and `Deserialize` for a type derived with
/// `#[serde(remote = "Self")]`, running its `check` method after deserializing.
macro_rules! checked_serde {
    ($ty:ident) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $ty::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = $ty::deserialize(deserializer)?;
                value.check().map_err(serde::de::Error::custom)?;
                Ok(value)
            }
        }
    };
}

pub(crate) use checked_serde;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_one_names_the_fields_set() {
        assert_eq!(at_most_one(&[("a", false), ("b", true)]), Ok(()));
        assert_eq!(
            at_most_one(&[("a", true), ("b", true), ("c", false)]),
            Err("only one of `a`, `b`, `c` may be set, found `a` and `b`".to_string())
        );
    }
}
