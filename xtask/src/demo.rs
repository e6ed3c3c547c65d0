//! `cargo xtask demo`: checks for root, installs the system packages the local
//! cluster runs (iproute2, iptables, util-linux), builds the mesh's binaries and hands
//! over to the demo driver (`mesh-demo`, in the e2e crate).

use std::os::unix::process::CommandExt;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::command::{ToolEnv, run};
use crate::progress::Step;
use crate::system_packages;
use crate::workspace::Workspace;

/// The packages the demo runs: the control plane, the sidecar, the CLI, the sample app,
/// and the driver itself.
const PACKAGES: [&str; 5] = [
    "mesh-control",
    "mesh-proxy",
    "mesh-ctl",
    "mesh-sample-app",
    "e2e",
];

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Leave the mesh running afterwards and print how to use it; Ctrl-C removes it.
    #[arg(long)]
    keep: bool,

    /// Requests per measurement (more gives tighter splits, takes longer).
    #[arg(short = 'n', long, value_name = "N")]
    requests: Option<u64>,
}

pub(crate) fn run_demo(ws: &Workspace, args: &DemoArgs) -> Result<()> {
    // Before the build: without root nothing of the demo can run.
    if !system_packages::is_root() {
        bail!(
            "the demo needs root: every pod is a network namespace, which only root can \
             create. Run it as root, keeping your toolchain on PATH:\n\n    \
             sudo -E env \"PATH=$PATH\" {}\n\n(it installs the system packages it lacks, \
             changes nothing outside its own namespaces and removes them on exit)",
            system_packages::this_command()
        );
    }
    system_packages::ensure(system_packages::LOCAL_CLUSTER)?;
    let env = ToolEnv::new(ws);
    // The debug profile, which `cargo xtask test` builds too: nothing is built twice.
    let mut build = env.cargo();
    build.current_dir(ws.root()).args(["build", "--bins"]);
    for package in PACKAGES {
        build.args(["-p", package]);
    }
    Step::start("build the mesh (debug profile)")
        .finish(run(&mut build).context(
            "the build failed: fix the errors above, then run `cargo xtask demo` again",
        ))?;

    let bin_dir = ws.root().join("target").join("debug");
    let driver = bin_dir.join("mesh-demo");
    let mut demo = env.command(&driver);
    // The driver finds the binaries here and does not rebuild them.
    demo.env("MESH_BIN_DIR", &bin_dir);
    if args.keep {
        demo.arg("--keep");
    }
    if let Some(n) = args.requests {
        demo.args(["--requests", &n.to_string()]);
    }
    // Replace this process, so that Ctrl-C reaches the driver alone and it can clean up.
    let err = demo.exec();
    Err(err).with_context(|| {
        format!(
            "could not start {}; run `cargo build -p e2e --bin mesh-demo` and try again",
            ws.display(&driver)
        )
    })
}
