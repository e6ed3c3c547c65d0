//! `mesh-demo`: the driver of `cargo xtask demo` (see `e2e::demo`).

use std::process::ExitCode;

use clap::Parser;
use e2e::demo::{self, DemoOptions};

/// Runs a whole mesh on this machine (network namespaces as pods, the real binaries)
/// and walks through request routing, traffic shifting and retries. Needs root.
#[derive(Debug, Parser)]
#[command(name = "mesh-demo", about, long_about = None)]
struct Args {
    /// Leave the mesh running afterwards and print how to use it; Ctrl-C removes it.
    #[arg(long)]
    keep: bool,
    /// Requests per measurement (more gives tighter splits, takes longer).
    #[arg(short = 'n', long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(10..=100_000))]
    requests: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mesh-demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = DemoOptions {
        keep: args.keep,
        requests: args.requests,
    };
    match runtime.block_on(demo::run(&options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nerror: {e}");
            ExitCode::FAILURE
        }
    }
}
