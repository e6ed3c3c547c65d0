//! Can this machine run the local cluster? Says what is missing and what to do,
//! before anything is started.

use std::process::{Command, Stdio};

use crate::cluster::LocalCluster;

/// The programs the local cluster and the sidecar's redirect rules run, with the
/// package that has them.
const PROGRAMS: [(&str, &str, &str); 5] = [
    ("ip", "-V", "iproute2"),
    ("ss", "-V", "iproute2"),
    ("setpriv", "--version", "util-linux"),
    ("iptables", "--version", "iptables"),
    ("iptables-restore", "--version", "iptables"),
];

/// `None` when the demo can run; otherwise what is missing and how to get it.
pub(super) fn problem() -> Option<String> {
    if LocalCluster::unavailable().is_some_and(|why| why.contains("root")) {
        return Some(
            "it needs root: every pod is a network namespace, which only root can create.\n\
             Run it as root, keeping your toolchain on PATH:\n\
             \n    sudo -E env \"PATH=$PATH\" cargo xtask demo\n\
             \n(it changes nothing outside its own namespaces and removes them on exit)"
                .to_string(),
        );
    }
    let missing: Vec<String> = PROGRAMS
        .iter()
        .filter(|(program, arg, _)| !runs(program, arg))
        .map(|(program, _, package)| format!("`{program}` ({package})"))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "missing: {}; install them (Debian/Ubuntu: apt-get install iproute2 iptables \
         util-linux) and run `cargo xtask demo` again",
        missing.join(", ")
    ))
}

fn runs(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}
