//! Analysis messages: a code, a level, the object, where it is, and how to fix it.

use std::fmt;

use serde::Serialize;

use crate::manifest::Location;
use crate::object::ObjectRef;

/// How serious a message is, as istioctl's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Level {
    Info,
    Warning,
    Error,
}

/// A kind of finding: Istio's code where Istio has the same analyzer (so that habits
/// and searches carry over), `MSH` codes for mesh's own.
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
    /// `Kind namespace/name`, or the file for documents that could not be read.
    pub origin: String,
    /// `file:line`, when the object came from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The field the message is about (`spec.http[0].route[1].destination.host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// One line saying what to change.
    pub fix: String,
}

pub mod codes {
    use super::{Level, MessageType};

    pub const REFERENCED_RESOURCE_NOT_FOUND: MessageType = MessageType {
        code: "IST0101",
        name: "ReferencedResourceNotFound",
        level: Level::Error,
    };
    pub const SCHEMA_VALIDATION_ERROR: MessageType = MessageType {
        code: "IST0106",
        name: "SchemaValidationError",
        level: Level::Error,
    };
    pub const PORT_NAME_NOT_UNDER_NAMING_CONVENTION: MessageType = MessageType {
        code: "IST0118",
        name: "PortNameIsNotUnderNamingConvention",
        level: Level::Info,
    };
    pub const NO_MATCHING_WORKLOADS_FOUND: MessageType = MessageType {
        code: "IST0127",
        name: "NoMatchingWorkloadsFound",
        level: Level::Warning,
    };
    pub const VIRTUAL_SERVICE_UNREACHABLE_RULE: MessageType = MessageType {
        code: "IST0130",
        name: "VirtualServiceUnreachableRule",
        level: Level::Warning,
    };
    pub const VIRTUAL_SERVICE_INEFFECTIVE_MATCH: MessageType = MessageType {
        code: "IST0131",
        name: "VirtualServiceIneffectiveMatch",
        level: Level::Info,
    };
    pub const DUPLICATE_OBJECT: MessageType = MessageType {
        code: "MSH0001",
        name: "DuplicateObject",
        level: Level::Warning,
    };
    pub const ROUTE_WEIGHTS_DO_NOT_ADD_UP: MessageType = MessageType {
        code: "MSH0002",
        name: "RouteWeightsDoNotAddUp",
        level: Level::Warning,
    };
    pub const ROUTE_WEIGHTS_ALL_ZERO: MessageType = MessageType {
        code: "MSH0003",
        name: "RouteWeightsAllZero",
        level: Level::Error,
    };
    pub const CONFLICTING_PEER_AUTHENTICATIONS: MessageType = MessageType {
        code: "MSH0004",
        name: "ConflictingPeerAuthentications",
        level: Level::Error,
    };

    /// Every message type, for `meshctl analyze --list-codes` and the docs.
    pub const ALL: &[MessageType] = &[
        REFERENCED_RESOURCE_NOT_FOUND,
        SCHEMA_VALIDATION_ERROR,
        PORT_NAME_NOT_UNDER_NAMING_CONVENTION,
        NO_MATCHING_WORKLOADS_FOUND,
        VIRTUAL_SERVICE_UNREACHABLE_RULE,
        VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
        DUPLICATE_OBJECT,
        ROUTE_WEIGHTS_DO_NOT_ADD_UP,
        ROUTE_WEIGHTS_ALL_ZERO,
        CONFLICTING_PEER_AUTHENTICATIONS,
    ];
}

impl Message {
    /// A message about `object`, located by the caller's location table.
    pub fn new(
        kind: MessageType,
        object: &ObjectRef,
        location: Option<&Location>,
        field: impl Into<Option<String>>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Message {
        Message {
            code: kind.code,
            name: kind.name,
            level: kind.level,
            origin: object.to_string(),
            reference: location.map(|l| format!("{}:{}", l.file, l.line)),
            field: field.into(),
            message: message.into(),
            fix: fix.into(),
        }
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
