//! What the e2e tests need from the machine (root, system programs, Envoy), checked in
//! one place, and what a test does when something is missing.
//!
//! A developer running a test by hand without root or iptables gets a skip that says
//! so (`SKIPPED <test>: …`, shown even though libtest captures test output). Under CI
//! (`CI=true`) and `cargo xtask test` (which has installed everything and sets
//! [`NO_SKIP_ENV`]) a missing prerequisite fails the test instead: there a test that
//! skips would pass without having run.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::tools;

/// Set (to anything but `0`) by `cargo xtask test`: no test may skip.
pub const NO_SKIP_ENV: &str = "MESH_E2E_NO_SKIP";

/// Something a test needs that cargo cannot build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prerequisite {
    /// Root: network namespaces, iptables rules, processes run as other uids.
    Root,
    /// A program on `PATH` that answers `probe` (e.g. `--version`) successfully.
    Program {
        name: &'static str,
        probe: &'static str,
    },
    /// Envoy installed by `cargo xtask tools`.
    Envoy,
}

pub const IP: Prerequisite = program("ip", "-V");
pub const SS: Prerequisite = program("ss", "-V");
pub const SETPRIV: Prerequisite = program("setpriv", "--version");
pub const IPTABLES: Prerequisite = program("iptables", "--version");
pub const IPTABLES_RESTORE: Prerequisite = program("iptables-restore", "--version");
pub const CURL: Prerequisite = program("curl", "--version");
pub const PYTHON3: Prerequisite = program("python3", "--version");
pub const TIMEOUT: Prerequisite = program("timeout", "--version");

/// The local cluster: namespaces on a bridge, apps run as their own uid.
pub const LOCAL_CLUSTER: &[Prerequisite] = &[Prerequisite::Root, IP, SS, SETPRIV];

/// The local cluster with sidecars, whose redirect rules need iptables.
pub const SIDECAR_PODS: &[Prerequisite] = &[
    Prerequisite::Root,
    IP,
    SS,
    SETPRIV,
    IPTABLES,
    IPTABLES_RESTORE,
];

const fn program(name: &'static str, probe: &'static str) -> Prerequisite {
    Prerequisite::Program { name, probe }
}

impl Prerequisite {
    /// Why this is not met, with what to do; `None` when it is.
    pub fn problem(self) -> Option<String> {
        match self {
            Prerequisite::Root if !is_root() => Some(
                "needs root (it creates network namespaces); run it as root, as CI and \
                 `sudo -E env \"PATH=$PATH\" cargo xtask test` do"
                    .to_string(),
            ),
            Prerequisite::Program { name, probe } if !runs(name, probe) => {
                Some(not_installed(&[name]))
            }
            Prerequisite::Envoy if tools::envoy().is_none() => Some(
                "Envoy is not installed; run `cargo xtask tools` (or set MESH_TOOLS_DIR to \
                 the directory holding envoy)"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// Every unmet prerequisite of `needs` with what to do (the missing programs in one
/// entry); empty when all are met.
pub fn missing(needs: &[Prerequisite]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut programs = Vec::new();
    for need in needs {
        match need {
            Prerequisite::Program { name, probe } if !runs(name, probe) => programs.push(*name),
            Prerequisite::Program { .. } => {}
            other => problems.extend(other.problem()),
        }
    }
    if !programs.is_empty() {
        problems.push(not_installed(&programs));
    }
    problems
}

fn not_installed(programs: &[&str]) -> String {
    let names: Vec<String> = programs.iter().map(|p| format!("`{p}`")).collect();
    let (verb, them) = if programs.len() == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    format!(
        "{} {verb} not installed; `cargo xtask test` run as root installs {them}",
        names.join(", ")
    )
}

/// Whether the calling test can run. When it cannot, it either skips (prints
/// `SKIPPED <test>: …` and returns `false`) or, under CI or `cargo xtask test`,
/// fails with the same message.
pub fn met(needs: &[Prerequisite]) -> bool {
    let test = std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("this test")
        .to_string();
    met_by(&test, needs)
}

/// [`met`] for a harness that knows the test's name.
pub(crate) fn met_by(test: &str, needs: &[Prerequisite]) -> bool {
    decide(test, &missing(needs), skipping_is_a_failure())
}

/// `true` without problems; otherwise skip (`false`) or, when `no_skip`, fail.
fn decide(test: &str, problems: &[String], no_skip: bool) -> bool {
    if problems.is_empty() {
        return true;
    }
    let why = problems.join("; ");
    if no_skip {
        panic!(
            "{test} cannot run: {why}\n(under CI=true and `cargo xtask test` a missing \
             prerequisite fails the test rather than skipping it)"
        );
    }
    // Straight to stderr: libtest captures `eprintln!`, which would hide the skip.
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    false
}

/// CI, or `cargo xtask test`, where everything has been installed.
fn skipping_is_a_failure() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var(NO_SKIP_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

fn runs(program: &str, probe: &str) -> bool {
    Command::new(program)
        .arg(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_is_there_is_met_and_one_that_is_not_says_what_to_do() {
        assert_eq!(program("cargo", "--version").problem(), None);
        let problem = program("mesh-no-such-program", "--version")
            .problem()
            .expect("missing");
        assert!(
            problem.contains("`mesh-no-such-program` is not installed"),
            "{problem}"
        );
        assert!(problem.contains("cargo xtask test"), "{problem}");
    }

    #[test]
    fn a_missing_prerequisite_skips_by_hand_and_fails_under_ci() {
        assert!(decide("t", &[], true));
        assert!(!decide("t", &["`iptables` is not installed".into()], false));
    }

    #[test]
    #[should_panic(expected = "t cannot run: `iptables` is not installed")]
    fn under_ci_a_missing_prerequisite_fails_the_test() {
        decide("t", &["`iptables` is not installed".into()], true);
    }

    #[test]
    fn missing_lists_only_what_is_missing() {
        let needs = [
            program("cargo", "--version"),
            program("mesh-no-such-program", "--version"),
            program("mesh-no-such-program-either", "--version"),
        ];
        assert_eq!(
            missing(&needs),
            [
                "`mesh-no-such-program`, `mesh-no-such-program-either` are not installed; \
              `cargo xtask test` run as root installs them"
            ]
        );
    }
}
