//! Offline config analysis (`meshctl analyze`): schema validation of every document,
//! then analyzers over the mesh model that find config which is valid but wrong.
//!
//! Pure: callers hand in file names and contents.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::manifest::{Location, parse_file};
use crate::model::{MeshModel, MeshSettings};
use crate::object::{MeshObject, ObjectRef};

pub mod message;
mod peer_authentication;
mod selectors;
mod service_ports;
mod virtual_service;

pub use message::{Level, Message, MessageType, codes};

/// What the analyzers see: the model and where each object was written.
#[derive(Debug)]
pub struct Context<'a> {
    pub model: &'a MeshModel,
    pub locations: &'a BTreeMap<ObjectRef, Location>,
}

/// The result of analyzing a set of files.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Messages, errors first, then by origin.
    pub messages: Vec<Message>,
    /// How many objects of kinds mesh reads were found.
    pub objects: usize,
    /// How many documents of other kinds (Deployments, …) were skipped.
    pub skipped: usize,
}

impl Context<'_> {
    fn message(
        &self,
        kind: MessageType,
        object: &ObjectRef,
        field: impl Into<Option<String>>,
        text: impl Into<String>,
        fix: impl Into<String>,
    ) -> Message {
        Message::new(kind, object, self.locations.get(object), field, text, fix)
    }
}

/// Runs every analyzer over a model.
pub fn analyze_model(cx: &Context<'_>) -> Vec<Message> {
    let mut out = Vec::new();
    virtual_service::analyze(cx, &mut out);
    peer_authentication::analyze(cx, &mut out);
    service_ports::analyze(cx, &mut out);
    selectors::analyze(cx, &mut out);
    out
}

/// Parses files (`(name, contents)`), reports schema errors and duplicates, builds the
/// model from the good objects and runs the analyzers on it.
pub fn analyze_files(files: &[(String, String)], settings: MeshSettings) -> Analysis {
    let mut analysis = Analysis::default();
    let mut objects: BTreeMap<ObjectRef, Arc<MeshObject>> = BTreeMap::new();
    let mut locations: BTreeMap<ObjectRef, Location> = BTreeMap::new();
    for (name, text) in files {
        let parsed = parse_file(name, text);
        analysis.skipped += parsed.skipped.len();
        for error in parsed.errors {
            let kind = codes::SCHEMA_VALIDATION_ERROR;
            analysis.messages.push(Message {
                code: kind.code,
                name: kind.name,
                level: kind.level,
                origin: error
                    .object
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| format!("document {} of {}", error.location.document, error.location.file)),
                reference: Some(format!("{}:{}", error.location.file, error.location.line)),
                field: error.field.clone(),
                message: error.message.clone(),
                fix: "correct the field as the message says; docs/reference/config.md lists every field"
                    .to_string(),
            });
        }
        for parsed_object in parsed.objects {
            let r = parsed_object.object.object_ref();
            if let Some(first) = locations.get(&r) {
                let kind = codes::DUPLICATE_OBJECT;
                analysis.messages.push(Message::new(
                    kind,
                    &r,
                    Some(&parsed_object.location),
                    None,
                    format!(
                        "{r} is also defined at {}:{}; the first definition is used",
                        first.file, first.line
                    ),
                    "remove one of the two definitions, or rename one",
                ));
                continue;
            }
            locations.insert(r.clone(), parsed_object.location);
            objects.insert(r, Arc::new(parsed_object.object));
        }
    }
    analysis.objects = objects.len();
    let model = MeshModel::build(objects.into_values(), settings);
    let cx = Context {
        model: &model,
        locations: &locations,
    };
    analysis.messages.extend(analyze_model(&cx));
    analysis.messages.sort_by_cached_key(|m| {
        (
            std::cmp::Reverse(m.level),
            reference_order(m.reference.as_deref()),
            m.origin.clone(),
            m.field.clone(),
        )
    });
    analysis
}

/// `file:line` ordered by file, then line as a number (line 9 before line 12).
fn reference_order(reference: Option<&str>) -> (String, usize) {
    match reference.and_then(|r| r.rsplit_once(':')) {
        Some((file, line)) => (file.to_string(), line.parse().unwrap_or(0)),
        None => (reference.unwrap_or_default().to_string(), 0),
    }
}

impl Analysis {
    /// Whether any message is at or above `threshold`.
    pub fn fails(&self, threshold: Level) -> bool {
        self.messages.iter().any(|m| m.level >= threshold)
    }
}

#[cfg(test)]
mod tests;
