//! Can this machine run the local cluster? Says what is missing and what to do,
//! before anything is started.

use crate::prerequisites::{Prerequisite, SIDECAR_PODS, is_root};

/// How to run the demo so that it can install what it needs.
const AS_ROOT: &str = "sudo -E env \"PATH=$PATH\" cargo xtask demo";

/// `None` when the demo can run; otherwise what is missing and how to get it.
pub(super) fn problem() -> Option<String> {
    if !is_root() {
        return Some(format!(
            "it needs root: every pod is a network namespace, which only root can create.\n\
             Run it as root, keeping your toolchain on PATH:\n\
             \n    {AS_ROOT}\n\
             \n(it installs the system packages it lacks, changes nothing outside its own \
             namespaces and removes them on exit)"
        ));
    }
    let missing: Vec<String> = SIDECAR_PODS
        .iter()
        .filter(|need| need.problem().is_some())
        .filter_map(|need| match need {
            Prerequisite::Program { name, .. } => Some(format!("`{name}`")),
            Prerequisite::Root | Prerequisite::Envoy => None,
        })
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "missing: {}; `cargo xtask demo` installs them (as root: {AS_ROOT})",
        missing.join(", ")
    ))
}
