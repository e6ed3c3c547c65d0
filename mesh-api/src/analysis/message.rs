//! Analysis messages: a code, a level, the object, where it is, and how to fix it.

use std::fmt;

use serde::Serialize;

/// How serious a message is, as istioctl's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// A kind of finding: Istio's code where Istio has the same analyzer, `MSH` codes for
/// mesh's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageType {
    pub code: &'static str,
    pub name: &'static str,
    pub level: Level,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub code: &'static str,
    pub name: &'static str,
    pub level: Level,
    /// `Kind namespace/name` (`Kind name` for cluster-scoped kinds), or the file for
    /// documents that could not be read.
    pub origin: String,
    /// `file:line` of the field the message is about, when the object came from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The field the message is about (`spec.http[0].route[1].destination.host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// One line saying what to change.
    pub fix: String,
    #[serde(rename = "documentationUrl")]
    pub documentation_url: String,
    /// The namespace `-n` filters on: the object's, a Namespace's own name, none for
    /// other cluster-scoped objects.
    #[serde(skip)]
    pub namespace: Option<String>,
    /// Codes the object's `galley.istio.io/analyze-suppress` annotation suppresses.
    #[serde(skip)]
    pub suppressed_codes: Vec<String>,
}

impl MessageType {
    /// Where the code is explained: Istio's reference for Istio's codes, ours for ours.
    pub fn documentation_url(&self) -> String {
        if self.code.starts_with("IST") {
            format!(
                "https://istio.io/latest/docs/reference/config/analysis/{}/",
                self.code.to_ascii_lowercase()
            )
        } else {
            format!("docs/analyze.md#{}", self.code.to_ascii_lowercase())
        }
    }
}

impl Message {
    /// A message without an object's location (documents that could not be read).
    pub fn unlocated(
        kind: MessageType,
        origin: String,
        reference: Option<String>,
        field: Option<String>,
        message: String,
        fix: String,
    ) -> Message {
        Message {
            code: kind.code,
            name: kind.name,
            level: kind.level,
            origin,
            reference,
            field,
            message,
            fix,
            documentation_url: kind.documentation_url(),
            namespace: None,
            suppressed_codes: Vec::new(),
        }
    }

    /// Whether two messages say the same thing about the same place (istioctl drops
    /// such repeats, which different analyzers produce).
    pub(crate) fn same_as(&self, other: &Message) -> bool {
        self.code == other.code
            && self.origin == other.origin
            && self.reference == other.reference
            && self.message == other.message
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Info => "Info",
            Level::Warning => "Warning",
            Level::Error => "Error",
        })
    }
}

impl fmt::Display for Message {
    /// istioctl's form: `Error [IST0101] (VirtualService default/reviews file.yaml:12) text`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}] ({}", self.level, self.code, self.origin)?;
        if let Some(reference) = &self.reference {
            write!(f, " {reference}")?;
        }
        write!(f, ") ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}
