//! `cargo xtask bench`: the performance benchmarks, which are not tests (figures on a
//! shared 2-core machine are noisy, so targets are judged from reports, never asserted).

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};

use crate::command::{ToolEnv, run};
use crate::progress::Step;
use crate::tools;
use crate::workspace::Workspace;

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which benchmarks to run.
    #[arg(value_enum)]
    suite: Suite,

    /// Only benchmarks whose name contains this (criterion's filter).
    #[arg(long)]
    filter: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    /// The control plane: translating 1,000 services / 10,000 endpoints for one proxy,
    /// a full push to 1,000 ADS clients, and one endpoint change reaching them all.
    Control,
}

pub(crate) fn run_bench(ws: &Workspace, args: &BenchArgs) -> Result<()> {
    tools::install(ws, false)?;
    let env = ToolEnv::new(ws);
    match args.suite {
        Suite::Control => {
            let step = Step::start("bench control");
            let mut cargo = env.cargo();
            cargo
                .current_dir(ws.root())
                .args(["bench", "-p", "mesh-control", "--benches"]);
            if let Some(filter) = &args.filter {
                cargo.args(["--", filter]);
            }
            step.finish(run(&mut cargo).context(
                "the control-plane benchmarks failed; rerun with `cargo bench -p mesh-control` to see their output",
            ))
        }
    }
}
