//! `cargo xtask test`: every check CI runs, cheapest first, stopping at the first failure.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

use crate::command::{ToolEnv, run};
use crate::progress::{Step, format_duration};
use crate::system_packages::{self, SystemPackage};
use crate::workspace::Workspace;
use crate::{charts, crds, flux, istio_fields, tools};

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Run only these steps (repeat or comma-separate); tools are still installed
    /// first when a chosen step needs them, unless --skip-tools.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STEP")]
    only: Vec<Check>,

    /// Do not install or verify tools; use what is in target/tools/bin.
    #[arg(long)]
    skip_tools: bool,
}

/// The steps, in the order they run: static checks before compiling, and `cargo test`
/// last so that its summary closes the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Check {
    /// The system packages the other steps need (python3 and pip for `tools`;
    /// iproute2, iptables, setpriv, curl, python3 and root for `test`'s e2e tests),
    /// installed with apt-get when missing. Planned whenever those steps are.
    #[value(skip)]
    System,
    /// `cargo xtask tools`: install pinned Envoy, Helm, kubectl, kubernetes-validate.
    Tools,
    /// `cargo fmt --all --check`.
    Fmt,
    /// `cargo xtask crds --check`: CRD manifests match the mesh-api types.
    Crds,
    /// `cargo xtask istio-fields --check`: the table of Istio's fields matches the
    /// shared reference (checks nothing, and says so, where the reference is absent).
    IstioFields,
    /// `helm lint --strict` on every chart under charts/, with its default values and
    /// each ci/*.yaml; each chart's values.schema.json must reject an unknown value.
    HelmLint,
    /// Every chart rendered with each values file for Kubernetes 1.29 to 1.35 and
    /// validated against kubernetes-validate's strict schemas; the injection webhooks'
    /// selectors checked against a matrix of namespace and pod labels.
    ChartValidate,
    /// deploy/flux/ validated against Flux's CRDs (xtask/testdata/flux/) and Kubernetes'
    /// schemas; its HelmReleases ordered by dependsOn and rendering with their values.
    Flux,
    /// `cargo clippy --workspace --all-targets -- -D warnings`.
    Clippy,
    /// `cargo test --workspace`.
    Test,
}

impl Check {
    const ALL: [Check; 10] = [
        Check::System,
        Check::Tools,
        Check::Fmt,
        Check::Crds,
        Check::IstioFields,
        Check::HelmLint,
        Check::ChartValidate,
        Check::Flux,
        Check::Clippy,
        Check::Test,
    ];

    /// The name `--only` takes, also shown in progress lines.
    fn name(self) -> String {
        if self == Check::System {
            return "system packages".to_string();
        }
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    fn needs_tools(self) -> bool {
        matches!(
            self,
            Check::HelmLint | Check::ChartValidate | Check::Flux | Check::Test
        )
    }

    /// The system packages this step runs, installed by [`Check::System`].
    fn system_packages(self) -> &'static [SystemPackage] {
        match self {
            Check::Tools => system_packages::TOOLS,
            Check::Test => system_packages::E2E_TESTS,
            _ => &[],
        }
    }
}

pub(crate) fn run_all(ws: &Workspace, args: &TestArgs) -> Result<()> {
    let started = Instant::now();
    let steps = plan(&args.only, args.skip_tools);
    let env = ToolEnv::new(ws);
    for &check in &steps {
        let name = check.name();
        let step = Step::start(&name);
        let result = step.finish(run_check(ws, &env, check, &steps));
        if check == Check::System {
            // Its own message says what to do; it is not a step one runs alone.
            result?;
        } else {
            result.with_context(|| {
                format!("step {name} failed; run it alone with `cargo xtask test --only {name}`")
            })?;
        }
    }
    let names: Vec<String> = steps.iter().map(|c| c.name()).collect();
    println!(
        "==> passed: {} ({})",
        names.join(", "),
        format_duration(started.elapsed())
    );
    Ok(())
}

/// Which steps run, in order.
fn plan(only: &[Check], skip_tools: bool) -> Vec<Check> {
    let chosen = |c: Check| only.is_empty() || only.contains(&c);
    let tools_needed =
        only.is_empty() || only.iter().any(|c| *c == Check::Tools || c.needs_tools());
    let steps: Vec<Check> = Check::ALL
        .into_iter()
        .filter(|&c| match c {
            Check::System => false,
            Check::Tools => tools_needed && !skip_tools,
            other => chosen(other),
        })
        .collect();
    let needs_system = steps.iter().any(|c| !c.system_packages().is_empty());
    Check::ALL
        .into_iter()
        .filter(|c| (*c == Check::System && needs_system) || steps.contains(c))
        .collect()
}

fn run_check(ws: &Workspace, env: &ToolEnv, check: Check, plan: &[Check]) -> Result<()> {
    match check {
        Check::System => install_system_packages(plan),
        Check::Tools => tools::install(ws, false),
        Check::Fmt => {
            let mut cargo = cargo(ws, env, &["fmt", "--all", "--check"]);
            // rustfmt colours its diff even into a pipe; keep CI logs plain.
            if !std::io::stdout().is_terminal() {
                cargo.args(["--", "--color", "never"]);
            }
            run(&mut cargo).context(
                "code is not formatted: run `cargo fmt --all` \
                 (if cargo fmt is missing: `rustup component add rustfmt`)",
            )
        }
        Check::Crds => crds::check(ws),
        Check::IstioFields => istio_fields::check_default(ws),
        Check::HelmLint => charts::lint(ws, env),
        Check::ChartValidate => charts::validate(ws, env),
        Check::Flux => flux::check(ws, env),
        Check::Clippy => {
            let mut cargo = cargo(ws, env, &["clippy", "--workspace", "--all-targets"]);
            locked(ws, &mut cargo);
            cargo.args(["--", "-D", "warnings"]);
            run(&mut cargo).context(
                "clippy found problems: fix the warnings above \
                 (if cargo clippy is missing: `rustup component add clippy`)",
            )
        }
        Check::Test => {
            // --no-fail-fast: one run shows every failing test binary, not just the first.
            let mut cargo = cargo(ws, env, &["test", "--workspace", "--no-fail-fast"]);
            locked(ws, &mut cargo);
            // Everything the e2e tests need is installed and this runs as root, so a
            // test that would skip fails instead (`e2e::prerequisites::NO_SKIP_ENV`).
            cargo.env("MESH_E2E_NO_SKIP", "1");
            run(&mut cargo).context("tests failed: see the failures above")
        }
    }
}

/// Root for the e2e tests, then every package the planned steps run.
fn install_system_packages(plan: &[Check]) -> Result<()> {
    if plan.contains(&Check::Test) && !system_packages::is_root() {
        bail!(
            "the `test` step runs the e2e tests that need root (network namespaces, \
             iptables) and fails rather than skip them: run it as root, keeping your \
             toolchain on PATH:\n\n    sudo -E env \"PATH=$PATH\" {}\n\n(it installs \
             the system packages those tests need). Without root, `cargo test --workspace` \
             runs the tests, skipping the root-only ones with a message.",
            system_packages::this_command()
        );
    }
    let packages: Vec<SystemPackage> = plan
        .iter()
        .flat_map(|c| c.system_packages())
        .copied()
        .collect();
    system_packages::ensure(&packages)
}

fn cargo(ws: &Workspace, env: &ToolEnv, args: &[&str]) -> std::process::Command {
    let mut cargo = env.cargo();
    cargo.current_dir(ws.root()).args(args);
    cargo
}

/// `--locked` once Cargo.lock is committed: CI must build what the lock file says.
fn locked(ws: &Workspace, cargo: &mut std::process::Command) {
    if ws.root().join("Cargo.lock").is_file() {
        cargo.arg("--locked");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_runs_by_default_system_packages_and_tools_first_cargo_test_last() {
        let steps = plan(&[], false);
        assert_eq!(steps, Check::ALL.to_vec());
    }

    #[test]
    fn only_a_chart_step_still_installs_tools_and_their_packages_first() {
        assert_eq!(
            plan(&[Check::HelmLint], false),
            vec![Check::System, Check::Tools, Check::HelmLint]
        );
    }

    #[test]
    fn the_test_step_gets_its_system_packages_even_without_tools() {
        assert_eq!(plan(&[Check::Test], true), vec![Check::System, Check::Test]);
    }

    #[test]
    fn skip_tools_and_tool_free_steps_install_nothing() {
        assert_eq!(plan(&[Check::HelmLint], true), vec![Check::HelmLint]);
        assert_eq!(
            plan(&[Check::Fmt, Check::Crds], false),
            vec![Check::Fmt, Check::Crds]
        );
    }

    #[test]
    fn only_keeps_the_fixed_order() {
        assert_eq!(
            plan(&[Check::Clippy, Check::Fmt], true),
            vec![Check::Fmt, Check::Clippy]
        );
    }
}
