//! Offline config analysis (`meshctl analyze`): schema validation of every document,
//! then analyzers that find config which is valid but wrong, with the codes, levels and
//! semantics of `istioctl analyze`'s analyzers, and a few checks of mesh's own.
//!
//! Pure: callers hand in file names, contents and the time; nothing here reads a
//! clock, a file or the network.

use std::collections::BTreeMap;

use crate::model::{MeshModel, MeshSettings};

mod admission;
mod annotation_table;
mod annotation_values;
mod annotations;
mod authorization;
pub mod codes;
mod conditions;
mod context;
mod defaults;
mod deployment;
mod deprecation;
mod destination_rule;
mod gateway;
mod gateway_api;
mod hosts;
mod injection;
mod input;
mod labels;
mod mesh_config;
pub mod message;
mod output_filter;
mod peer_authentication;
mod selected_workloads;
mod service_entry;
mod service_ports;
mod sidecar;
mod telemetry;
mod validation;
mod virtual_service;
mod webhook;
mod workloads;
mod x509;

pub use admission::{admission_errors, admission_text};
pub use context::Context;
pub use input::{InputKind, InputObject};
pub use mesh_config::{MeshConfig, MeshConfigError};
pub use message::{Level, Message, MessageType};
pub use output_filter::Suppression;

/// How to analyze.
#[derive(Debug, Clone, Default)]
pub struct AnalysisOptions {
    pub mesh_config: MeshConfig,
    /// Report only messages about objects of this namespace (and cluster-scoped ones).
    pub namespace: Option<String>,
    /// `CODE=Kind name` pairs whose messages are dropped.
    pub suppressions: Vec<Suppression>,
    /// Also report alpha-phase annotations (IST0136), as `istioctl x precheck` does.
    pub alpha_annotations: bool,
    /// Seconds since the Unix epoch, for certificate validity.
    pub now: i64,
}

/// The result of analyzing a set of files.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Messages, errors first, then by file and line.
    pub messages: Vec<Message>,
    /// How many objects of kinds the analyzers read were found.
    pub objects: usize,
    /// How many documents of other kinds were skipped.
    pub skipped: usize,
}

/// Runs every analyzer.
pub fn analyze_model(cx: &Context<'_>) -> Vec<Message> {
    let mut out = Vec::new();
    annotations::analyze(cx, &mut out);
    authorization::analyze(cx, &mut out);
    conditions::analyze(cx, &mut out);
    deployment::analyze(cx, &mut out);
    deprecation::analyze(cx, &mut out);
    destination_rule::analyze(cx, &mut out);
    gateway::analyze(cx, &mut out);
    gateway_api::analyze(cx, &mut out);
    injection::analyze(cx, &mut out);
    peer_authentication::analyze(cx, &mut out);
    service_entry::analyze(cx, &mut out);
    service_ports::analyze(cx, &mut out);
    sidecar::analyze(cx, &mut out);
    telemetry::analyze(cx, &mut out);
    validation::analyze(cx, &mut out);
    virtual_service::analyze(cx, &mut out);
    webhook::analyze(cx, &mut out);
    out
}

/// Parses files (`(name, contents)`), reports documents that cannot be read, schema
/// errors and duplicates, and runs the analyzers on every object.
pub fn analyze_files(files: &[(String, String)], options: &AnalysisOptions) -> Analysis {
    let read = input::read_inputs(files, &options.mesh_config);
    let mut messages = read.messages;
    // The model is built from the first valid definition of each mesh object, as the
    // control plane would build it.
    let model = MeshModel::build(
        read.entries
            .iter()
            .filter(|e| !e.duplicate)
            .filter_map(|e| e.mesh.clone()),
        MeshSettings {
            root_namespace: options.mesh_config.root_namespace.clone(),
            ..MeshSettings::default()
        },
    );
    let cx = Context::new(&model, options, &read.entries);
    messages.extend(analyze_model(&cx));
    let mut messages = output_filter::filter(messages, options);
    messages.sort_by_cached_key(|m| {
        (
            std::cmp::Reverse(m.level),
            reference_order(m.reference.as_deref()),
            m.origin.clone(),
            m.code,
            m.field.clone(),
            m.message.clone(),
        )
    });
    Analysis {
        messages,
        objects: read.objects,
        skipped: read.skipped,
    }
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

    /// How many messages there are of each level.
    pub fn counts(&self) -> BTreeMap<Level, usize> {
        let mut counts = BTreeMap::new();
        for m in &self.messages {
            *counts.entry(m.level).or_default() += 1;
        }
        counts
    }
}

#[cfg(test)]
mod cases;
#[cfg(test)]
mod tests;
