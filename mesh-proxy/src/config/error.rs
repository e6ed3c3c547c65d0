//! Why the proxy refuses a resource: which resource, where in it, and why. The text
//! is the NACK's `error_detail` (`listener "x": filter chain "y": reason`); the parts
//! are there for whoever needs more than the text.

use std::fmt;

/// A resource this proxy cannot apply faithfully.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// What the resource is, in words: `cluster`, `listener`, `route config`, `cla`.
    pub kind: &'static str,
    pub name: String,
    /// Where in the resource, outermost first: `filter chain "x"`, `filter "y"`,
    /// `address`. Empty when the reason is about the resource as a whole.
    pub field: Vec<String>,
    pub reason: String,
}

/// An error found inside a resource, before it is known which resource: the place
/// grows outward as it is returned (`at`), and the resource is named last (`of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Vec<String>,
    pub reason: String,
}

impl FieldError {
    pub fn new(reason: impl Into<String>) -> FieldError {
        FieldError {
            field: Vec::new(),
            reason: reason.into(),
        }
    }

    /// The same error one level out: `place` is where the inner part sits.
    #[must_use]
    pub fn at(mut self, place: impl Into<String>) -> FieldError {
        self.field.insert(0, place.into());
        self
    }

    /// The error as the NACK states it, for the resource `kind` named `name`.
    pub fn of(self, kind: &'static str, name: &str) -> ConfigError {
        ConfigError {
            kind,
            name: name.to_string(),
            field: self.field,
            reason: self.reason,
        }
    }

    /// Whether the text mentions `s` (for tests and callers that match on words).
    pub fn contains(&self, s: &str) -> bool {
        self.to_string().contains(s)
    }
}

impl From<String> for FieldError {
    fn from(reason: String) -> FieldError {
        FieldError::new(reason)
    }
}

impl From<&str> for FieldError {
    fn from(reason: &str) -> FieldError {
        FieldError::new(reason)
    }
}

impl ConfigError {
    /// Whether the text mentions `s` (for tests and callers that match on words).
    pub fn contains(&self, s: &str) -> bool {
        self.to_string().contains(s)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for place in &self.field {
            write!(f, "{place}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: ", self.kind, self.name)?;
        for place in &self.field {
            write!(f, "{place}: ")?;
        }
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_names_the_resource_then_the_place_outermost_first() {
        let e = FieldError::new("hash_policy is not supported yet")
            .at("filter \"tcp\"")
            .at("filter chain \"inbound\"")
            .of("listener", "virtualInbound");
        assert_eq!(
            e.to_string(),
            "listener \"virtualInbound\": filter chain \"inbound\": filter \"tcp\": hash_policy is not supported yet"
        );
        assert_eq!(e.field, ["filter chain \"inbound\"", "filter \"tcp\""]);
        let whole = FieldError::new("no filter chains").of("listener", "x");
        assert_eq!(whole.to_string(), "listener \"x\": no filter chains");
    }
}
