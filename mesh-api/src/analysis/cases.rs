//! The table-driven tests' harness: each analyzer family has a table of cases, an
//! input and the exact messages `analyze_files` gives for it (every analyzer runs on
//! every case, so a case also proves the others stay silent). Here too: the tests that
//! every documented code has a case and every code is documented.

use std::collections::BTreeSet;

use super::{AnalysisOptions, MeshConfig, analyze_files, codes};

/// 2026-01-01T00:00:00Z: the time certificates are checked against.
pub(crate) const NOW: i64 = 1_767_225_600;

/// One input and the messages expected for it, each as `CODE Kind ns/name: text`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) input: &'static str,
    pub(crate) expected: &'static [&'static str],
    /// A mesh config, as `--meshConfigFile` reads it.
    pub(crate) mesh_config: Option<&'static str>,
    /// Report alpha-phase annotations too.
    pub(crate) alpha_annotations: bool,
}

impl Case {
    pub(crate) const fn new(
        name: &'static str,
        input: &'static str,
        expected: &'static [&'static str],
    ) -> Case {
        Case {
            name,
            input,
            expected,
            mesh_config: None,
            alpha_annotations: false,
        }
    }

    pub(crate) const fn with_alpha_annotations(mut self) -> Case {
        self.alpha_annotations = true;
        self
    }

    pub(crate) const fn with_mesh_config(mut self, mesh_config: &'static str) -> Case {
        self.mesh_config = Some(mesh_config);
        self
    }
}

/// The messages for one input, as the cases write them.
pub(crate) fn messages_for(input: &str, options: &AnalysisOptions) -> Vec<String> {
    let analysis = analyze_files(&[("input.yaml".to_string(), input.to_string())], options);
    analysis
        .messages
        .iter()
        .map(|m| format!("{} {}: {}", m.code, m.origin, m.message))
        .collect()
}

/// Runs every case; fails with every difference at once.
pub(crate) fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let options = AnalysisOptions {
            mesh_config: case
                .mesh_config
                .map(|m| MeshConfig::parse(m).expect("the case's mesh config parses"))
                .unwrap_or_default(),
            now: NOW,
            alpha_annotations: case.alpha_annotations,
            ..AnalysisOptions::default()
        };
        let mut found = messages_for(case.input, &options);
        found.sort();
        let mut expected: Vec<String> = case.expected.iter().map(|e| e.to_string()).collect();
        expected.sort();
        if found != expected {
            failures.push(format!(
                "case {:?}:\n  expected:\n    {}\n  found:\n    {}",
                case.name,
                expected.join("\n    "),
                found.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Every table of cases.
fn all_cases() -> Vec<Case> {
    [
        super::annotations::tests::CASES,
        super::authorization::tests::CASES,
        super::conditions::tests::CASES,
        super::deployment::tests::CASES,
        super::deprecation::tests::CASES,
        super::destination_rule::tests::CASES,
        super::gateway::tests::CASES,
        super::gateway_api::tests::CASES,
        super::injection::tests::CASES,
        super::peer_authentication::tests::CASES,
        super::service_entry::tests::CASES,
        super::service_ports::tests::CASES,
        super::sidecar::tests::CASES,
        super::telemetry::tests::CASES,
        super::validation::tests::CASES,
        super::virtual_service::tests::CASES,
        super::webhook::tests::CASES,
        super::tests::CASES,
    ]
    .concat()
}

/// The codes of the table in docs/analyze.md.
fn documented_codes() -> BTreeSet<String> {
    let docs = include_str!("../../../docs/analyze.md");
    docs.lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(' ').next())
        .filter(|c| c.len() == 7 && (c.starts_with("IST") || c.starts_with("MSH")))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_documented_code_has_a_case() {
    let covered: BTreeSet<String> = all_cases()
        .iter()
        .flat_map(|c| c.expected.iter())
        .filter_map(|e| e.split(' ').next())
        .map(str::to_string)
        .collect();
    let missing: Vec<String> = documented_codes()
        .into_iter()
        .filter(|c| !covered.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "documented codes without a case: {missing:?}"
    );
}

#[test]
fn every_code_the_analyzers_can_report_is_documented() {
    let documented = documented_codes();
    let undocumented: Vec<&str> = codes::ALL
        .iter()
        .map(|t| t.code)
        .filter(|c| !documented.contains(*c))
        .collect();
    assert!(
        undocumented.is_empty(),
        "codes missing from docs/analyze.md: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|c| !codes::ALL.iter().any(|t| t.code == c.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/analyze.md lists codes no analyzer reports: {unknown:?}"
    );
}
