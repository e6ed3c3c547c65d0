//! What every analyzer sees: the objects of the input by kind, the mesh model built
//! from them, the options, and how to word a message about an object.

use std::collections::BTreeMap;

use super::AnalysisOptions;
use super::input::{InputKind, InputObject};
use super::message::{Message, MessageType};
use crate::model::MeshModel;

/// The annotation with which an object suppresses messages about itself
/// (comma-separated codes, or `*`).
pub(crate) const SUPPRESS_ANNOTATION: &str = "galley.istio.io/analyze-suppress";

/// The input of the analyzers.
#[derive(Debug)]
pub struct Context<'a> {
    /// The model, built from the first valid definition of each mesh object.
    pub model: &'a MeshModel,
    pub options: &'a AnalysisOptions,
    entries: &'a [InputObject],
    by_kind: BTreeMap<InputKind, Vec<usize>>,
}

impl<'a> Context<'a> {
    pub fn new(
        model: &'a MeshModel,
        options: &'a AnalysisOptions,
        entries: &'a [InputObject],
    ) -> Self {
        let mut by_kind: BTreeMap<InputKind, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_kind.entry(e.kind).or_default().push(i);
        }
        Context {
            model,
            options,
            entries,
            by_kind,
        }
    }

    /// Every definition of every object of `kind` (a duplicate too: a mistake in it is
    /// worth reporting), in input order.
    pub fn all(&self, kind: InputKind) -> impl Iterator<Item = &'a InputObject> + '_ {
        let entries = self.entries;
        self.by_kind
            .get(&kind)
            .into_iter()
            .flatten()
            .map(move |i| &entries[*i])
    }

    /// The first definition of each object of `kind`: for checks between objects, where
    /// an object must not meet its own duplicate.
    pub fn unique(&self, kind: InputKind) -> impl Iterator<Item = &'a InputObject> + '_ {
        self.all(kind).filter(|e| !e.duplicate)
    }

    /// The object of `kind` named `namespace/name` (namespace empty for cluster-scoped).
    pub fn find(&self, kind: InputKind, namespace: &str, name: &str) -> Option<&'a InputObject> {
        self.unique(kind)
            .find(|e| e.namespace == namespace && e.name == name)
    }

    /// The root namespace, where selector-less policies apply mesh-wide.
    pub fn root_namespace(&self) -> &str {
        &self.options.mesh_config.root_namespace
    }

    /// A message about `entry`, at the line of `field` when the field is known.
    pub fn message(
        &self,
        kind: MessageType,
        entry: &InputObject,
        field: impl Into<Option<String>>,
        text: impl Into<String>,
        fix: impl Into<String>,
    ) -> Message {
        let field = field.into();
        let mut m = Message::unlocated(
            kind,
            entry.origin(),
            entry.reference(field.as_deref()),
            field,
            text.into(),
            fix.into(),
        );
        m.namespace = match entry.kind {
            InputKind::Namespace => Some(entry.name.clone()),
            _ if entry.namespace.is_empty() => None,
            _ => Some(entry.namespace.clone()),
        };
        m.suppressed_codes = entry
            .annotation(SUPPRESS_ANNOTATION)
            .map(|codes| codes.split(',').map(|c| c.trim().to_string()).collect())
            .unwrap_or_default();
        m
    }
}
