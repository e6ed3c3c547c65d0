//! `meshctl precheck`: whether the cluster is ready for `meshctl install` (as
//! `istioctl x precheck`): its version, your permissions, an Istio already there,
//! namespaces labelled for injection, the control plane's namespace.

use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cluster::{ClusterArgs, runtime};

mod checks;

use checks::{Check, Outcome};

/// Check that the cluster is ready for `meshctl install`.
///
/// Exit status: 0 when install can go ahead (warnings included), 1 when a check
/// failed.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl precheck\n  meshctl precheck --context kind-mesh -o json"
)]
pub(crate) struct PrecheckArgs {
    /// Output format: a list for people, or JSON.
    #[arg(short = 'o', long, value_enum, default_value_t = PrecheckFormat::Text)]
    output: PrecheckFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PrecheckFormat {
    Text,
    Json,
}

pub(crate) fn run(args: &PrecheckArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let checks = runtime()?.block_on(async {
        let cluster = cluster.connect().await?;
        eprintln!("checking the cluster for mesh's install …");
        anyhow::Ok(checks::run_all(&cluster.client, &cluster.mesh_namespace).await)
    })?;
    match args.output {
        PrecheckFormat::Json => println!("{}", serde_json::to_string_pretty(&checks)?),
        PrecheckFormat::Text => print!("{}", render(&checks)),
    }
    Ok(if blocks(&checks) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn blocks(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.outcome == Outcome::Fail)
}

/// One line per check, the fix under each warning and failure, then the verdict.
fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let mark = match check.outcome {
            Outcome::Pass => "✔",
            Outcome::Warn => "⚠",
            Outcome::Fail => "✘",
        };
        out.push_str(&format!("{mark} {}: {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("    fix: {fix}\n"));
        }
    }
    out.push_str(if blocks(checks) {
        "✘ install would fail: fix the checks marked ✘ first\n"
    } else {
        "✔ ready for `meshctl install`\n"
    });
    out
}

#[cfg(test)]
mod tests;
