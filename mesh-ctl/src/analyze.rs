//! `meshctl analyze`: validates config files offline and runs the analyzers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use mesh_api::analysis::{Analysis, Level, analyze_files, codes};
use mesh_api::manifest::manifest_files;
use mesh_api::model::MeshSettings;

use crate::output::{dim, paint_level, use_color};

/// istioctl's exit code for "the analyzers found issues", so that scripts carry over.
const EXIT_ANALYZERS_FOUND_ISSUES: u8 = 79;

/// Validate mesh configuration offline and find config that is valid but wrong.
///
/// Reads Kubernetes Services, WorkloadEntries and the mesh CRDs (in mesh's groups or
/// Istio's own: networking.istio.io, security.istio.io); documents of other kinds
/// (Deployments, ServiceAccounts, …) are skipped. Every message has a code, a level,
/// the object, its file and line, and a fix.
///
/// Exit status: 0 when no message reaches --failure-threshold, 79 when one does (as
/// istioctl), 1 when the files cannot be read.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl analyze -f examples/bookinfo\n  meshctl analyze -f vs.yaml -f dr.yaml -o json\n  kubectl get vs,dr -A -o yaml | meshctl analyze -f -"
)]
pub(crate) struct AnalyzeArgs {
    /// A file or directory (read recursively) of YAML manifests; `-` reads stdin. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,

    /// More files or directories, as with -f.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Output format: `log` (text for people) or `json`/`yaml` for machines.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Log)]
    output: OutputFormat,

    /// The lowest level that makes the command fail (exit 79).
    #[arg(long, value_enum, default_value_t = ThresholdLevel::Error)]
    failure_threshold: ThresholdLevel,

    /// The lowest level to print.
    #[arg(long, value_enum, default_value_t = ThresholdLevel::Info)]
    output_threshold: ThresholdLevel,

    /// Color the text output (default: when stdout is a terminal and NO_COLOR is unset).
    #[arg(long, value_name = "BOOL")]
    color: Option<bool>,

    /// Namespace whose selector-less policies apply mesh-wide (Istio's root namespace).
    #[arg(long, default_value = mesh_api::model::DEFAULT_ROOT_NAMESPACE)]
    root_namespace: String,

    /// List the message codes the analyzers can report, and exit.
    #[arg(short = 'L', long)]
    list_analyzers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    #[value(alias = "text")]
    Log,
    Json,
    Yaml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ThresholdLevel {
    #[value(alias = "Info")]
    Info,
    #[value(alias = "Warning")]
    Warning,
    #[value(alias = "Error")]
    Error,
}

impl From<ThresholdLevel> for Level {
    fn from(l: ThresholdLevel) -> Level {
        match l {
            ThresholdLevel::Info => Level::Info,
            ThresholdLevel::Warning => Level::Warning,
            ThresholdLevel::Error => Level::Error,
        }
    }
}

pub(crate) fn run(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    if args.list_analyzers {
        for t in codes::ALL {
            println!("{:<8} {:<8} {}", t.code, t.level.to_string(), t.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let inputs: Vec<&PathBuf> = args.files.iter().chain(&args.paths).collect();
    anyhow::ensure!(
        !inputs.is_empty(),
        "no files to analyze; name files or directories with -f PATH (or `-f -` for stdin)"
    );
    let files = read_inputs(&inputs)?;
    let mut analysis = analyze_files(
        &files,
        MeshSettings {
            root_namespace: args.root_namespace.clone(),
        },
    );
    let output_threshold = Level::from(args.output_threshold);
    analysis.messages.retain(|m| m.level >= output_threshold);
    match args.output {
        OutputFormat::Log => print_log(&analysis, files.len(), use_color(args.color)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&analysis.messages)?),
        OutputFormat::Yaml => print!("{}", serde_norway::to_string(&analysis.messages)?),
    }
    Ok(if analysis.fails(args.failure_threshold.into()) {
        ExitCode::from(EXIT_ANALYZERS_FOUND_ISSUES)
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads every input into `(name, contents)`, directories recursively.
fn read_inputs(inputs: &[&PathBuf]) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read manifests from stdin")?;
            files.push(("<stdin>".to_string(), text));
            continue;
        }
        let meta = std::fs::metadata(input).with_context(|| {
            format!(
                "cannot read {}; check the path given to -f",
                input.display()
            )
        })?;
        let paths = if meta.is_dir() {
            let found = manifest_files(input)
                .with_context(|| format!("cannot list directory {}", input.display()))?;
            if found.is_empty() {
                eprintln!(
                    "warning: {} holds no .yaml, .yml or .json files",
                    input.display()
                );
            }
            found
        } else {
            vec![input.to_path_buf()]
        };
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            files.push((display(&path), text));
        }
    }
    Ok(files)
}

fn display(path: &Path) -> String {
    path.strip_prefix("./")
        .unwrap_or(path)
        .display()
        .to_string()
}

fn print_log(analysis: &Analysis, files: usize, color: bool) {
    for m in &analysis.messages {
        let mut line = format!("{} [{}] ({}", paint_level(m.level, color), m.code, m.origin);
        if let Some(reference) = &m.reference {
            line.push(' ');
            line.push_str(reference);
        }
        line.push_str(") ");
        if let Some(field) = &m.field {
            line.push_str(field);
            line.push_str(": ");
        }
        line.push_str(&m.message);
        println!("{line}");
        println!("  {}", dim(&format!("fix: {}", m.fix), color));
    }
    let count = |level| {
        analysis
            .messages
            .iter()
            .filter(|m| m.level == level)
            .count()
    };
    let scope = format!(
        "{files} file{} ({} object{}, {} other document{} skipped)",
        plural(files),
        analysis.objects,
        plural(analysis.objects),
        analysis.skipped,
        plural(analysis.skipped),
    );
    if analysis.messages.is_empty() {
        println!("✔ No validation issues found when analyzing {scope}.");
    } else {
        println!(
            "{} error(s), {} warning(s), {} info message(s) when analyzing {scope}.",
            count(Level::Error),
            count(Level::Warning),
            count(Level::Info)
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
