//! `meshctl`: the command-line tool of mesh (the istioctl role).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;
mod output;

/// Command-line tool of mesh, a service mesh compatible with Istio's configuration.
#[derive(Debug, Parser)]
#[command(name = "meshctl", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate mesh configuration offline and find config that is valid but wrong.
    Analyze(analyze::AnalyzeArgs),
    /// Print meshctl's version.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Version => {
            println!("meshctl {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
