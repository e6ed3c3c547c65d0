//! `meshctl analyze`: validates config files offline and runs the analyzers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use mesh_api::analysis::{
    Analysis, AnalysisOptions, Level, MeshConfig, Suppression, analyze_files, codes,
};
use mesh_api::manifest::manifest_files;

use crate::cluster::{ClusterArgs, runtime};
use crate::output::{dim, paint_level, use_color};

mod live;

/// istioctl's exit code for "the analyzers found issues", so that scripts carry over.
const EXIT_ANALYZERS_FOUND_ISSUES: u8 = 79;

/// Validate mesh configuration (files, or the live cluster without them) and find
/// config that is valid but wrong.
///
/// Runs the analyzers of `istioctl analyze`, with Istio's codes and levels, and mesh's
/// own (MSH codes). Reads the mesh CRDs (in mesh's groups or Istio's own), Services,
/// and the Kubernetes and Istio kinds the analyzers inspect: Pods, Deployments,
/// Namespaces, Secrets, webhook configurations, Telemetry, Gateway API objects.
/// Every message has a code, a level, the object, the file and line of the field,
/// and a fix. docs/analyze.md lists every code.
///
/// Exit status: 0 when no message reaches --failure-threshold, 79 when one does (as
/// istioctl), 1 when the files cannot be read.
#[derive(Debug, Args)]
#[command(
    after_help = "Runs the analyzers of istioctl analyze (Istio's codes, levels and semantics) and mesh's own\n(MSH codes); every message names the file and line of its field, and a fix. -L lists the\ncodes; docs/analyze.md explains each. An object's galley.istio.io/analyze-suppress\nannotation suppresses codes about it.\n\nExit status: 0 when no message reaches --failure-threshold, 79 when one does (as istioctl),\n1 when the input cannot be read.\n\nWithout files (or with --use-kube) the cluster of the kubeconfig is read: the context's\nnamespace is reported, or -n NS, or -A every namespace.\n\nExamples:\n  meshctl analyze -A\n  meshctl analyze -n shop --context kind-mesh\n  meshctl analyze -f examples/bookinfo\n  meshctl analyze -f vs.yaml -f dr.yaml -o json\n  kubectl get vs,dr,svc,pods,ns -A -o yaml | meshctl analyze -f -\n  meshctl analyze -f k8s/ -n shop -S \"IST0102=Namespace *\""
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

    /// Report every namespace (the default for files, which have no current
    /// namespace). `-n NS` (a global flag) reports only objects of NS and
    /// cluster-scoped ones.
    #[arg(short = 'A', long)]
    all_namespaces: bool,

    /// Drop a code for matching objects: `CODE=Kind name.namespace` (or
    /// `Kind namespace/name`); `*` matches anything, e.g. "IST0102=Namespace *". Repeatable.
    #[arg(short = 'S', long = "suppress", value_name = "CODE=RESOURCE")]
    suppress: Vec<Suppression>,

    /// A MeshConfig (or the `istio` ConfigMap holding one) for the analyzers that depend
    /// on it; Istio's defaults otherwise.
    #[arg(
        long = "meshConfigFile",
        alias = "mesh-config-file",
        value_name = "FILE"
    )]
    mesh_config_file: Option<PathBuf>,

    /// Namespace whose selector-less policies apply mesh-wide (Istio's root namespace),
    /// where the assumed ingress gateway lives. Default: the mesh config's, istio-system
    /// for files; --mesh-namespace (mesh-system) for the live cluster.
    #[arg(long, value_name = "NS")]
    root_namespace: Option<String>,

    /// Also report alpha-phase annotations (IST0136), as `istioctl x precheck` does.
    #[arg(long)]
    alpha_annotations: bool,

    /// Read the live cluster (kubeconfig, --context). Default: true without files,
    /// false with them; `-f DIR --use-kube` analyzes both together.
    #[arg(short = 'k', long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    use_kube: Option<bool>,

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
    #[value(alias = "Info", alias = "INFO")]
    Info,
    #[value(alias = "Warning", alias = "WARNING")]
    Warning,
    #[value(alias = "Error", alias = "ERROR")]
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

pub(crate) fn run(args: &AnalyzeArgs, cluster: &ClusterArgs) -> anyhow::Result<ExitCode> {
    if args.list_analyzers {
        for t in codes::ALL {
            println!("{:<8} {:<8} {}", t.code, t.level.to_string(), t.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let inputs: Vec<&PathBuf> = args.files.iter().chain(&args.paths).collect();
    let use_kube = args.use_kube.unwrap_or(inputs.is_empty());
    anyhow::ensure!(
        use_kube || !inputs.is_empty(),
        "no files to analyze; name files or directories with -f PATH (or `-f -` for stdin), \
         or drop --use-kube=false to analyze the cluster"
    );
    anyhow::ensure!(
        !inputs.is_empty() || args.use_kube.is_some() || cluster.configured(),
        "nothing to analyze: name files or directories with -f PATH (or `-f -` for stdin), \
         or analyze a cluster: set KUBECONFIG or pass --kubeconfig FILE"
    );
    let mut files = read_inputs(&inputs)?;
    let mut options = options(args, cluster)?;
    let mut scope = Vec::new();
    if !inputs.is_empty() {
        scope.push(format!("{} file{}", files.len(), plural(files.len())));
    }
    if use_kube {
        let (live, namespace) = read_cluster(cluster)?;
        if options.namespace.is_none() && !args.all_namespaces && inputs.is_empty() {
            // As kubectl: the context's namespace unless -A (files have none).
            options.namespace = Some(namespace);
        }
        if args.root_namespace.is_none() && args.mesh_config_file.is_none() {
            // On a mesh cluster the root namespace is the control plane's (mesh-control's
            // --root-namespace default), not istioctl's istio-system.
            options.mesh_config.root_namespace = cluster.mesh_namespace.clone();
        }
        scope.push(format!(
            "the cluster ({})",
            options
                .namespace
                .as_deref()
                .map_or("all namespaces".to_string(), |ns| format!("namespace {ns}"))
        ));
        files.extend(live);
    }
    let mut analysis = analyze_files(&files, &options);
    // A live object has no file and line: the message names the object and field.
    for m in &mut analysis.messages {
        if m.reference
            .as_deref()
            .is_some_and(|r| r.starts_with(live::PREFIX))
        {
            m.reference = None;
        }
    }
    // The exit status counts every message, whatever --output-threshold hides.
    let fails = analysis.fails(args.failure_threshold.into());
    let output_threshold = Level::from(args.output_threshold);
    analysis.messages.retain(|m| m.level >= output_threshold);
    match args.output {
        OutputFormat::Log => print_log(&analysis, &scope.join(" and "), use_color(args.color)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&analysis.messages)?),
        OutputFormat::Yaml => print!("{}", serde_norway::to_string(&analysis.messages)?),
    }
    Ok(if fails {
        ExitCode::from(EXIT_ANALYZERS_FOUND_ISSUES)
    } else {
        ExitCode::SUCCESS
    })
}

/// The analysis options the flags ask for; the clock is read here, at the edge.
fn options(args: &AnalyzeArgs, cluster: &ClusterArgs) -> anyhow::Result<AnalysisOptions> {
    anyhow::ensure!(
        !(args.all_namespaces && cluster.namespace.is_some()),
        "-A and -n exclude each other; pass one"
    );
    let mut mesh_config = match &args.mesh_config_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!(
                    "cannot read {}; check the path given to --meshConfigFile",
                    path.display()
                )
            })?;
            MeshConfig::parse(&text).with_context(|| {
                format!(
                    "{} is not a MeshConfig (nor a ConfigMap with one under data.mesh)",
                    path.display()
                )
            })?
        }
        None => MeshConfig::default(),
    };
    if let Some(root) = &args.root_namespace {
        mesh_config.root_namespace = root.clone();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Ok(AnalysisOptions {
        mesh_config,
        namespace: cluster.namespace.clone(),
        suppressions: args.suppress.clone(),
        alpha_annotations: args.alpha_annotations,
        now,
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

/// The cluster's objects as pseudo-files, and the context's namespace.
fn read_cluster(cluster: &ClusterArgs) -> anyhow::Result<(Vec<(String, String)>, String)> {
    let (live, namespace) = runtime()?.block_on(async {
        let connected = cluster.connect().await?;
        eprintln!("reading the cluster's objects …");
        let live = live::read(&connected.client).await?;
        anyhow::Ok((live, connected.namespace))
    })?;
    if !live.forbidden.is_empty() {
        eprintln!(
            "warning: you may not list {}; the analyzers that read them see none (ask for \
             `list` on them)",
            live.forbidden.join(", ")
        );
    }
    Ok((live.files, namespace))
}

fn print_log(analysis: &Analysis, scope: &str, color: bool) {
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
    let counts = analysis.counts();
    let count = |level| counts.get(&level).copied().unwrap_or(0);
    let scope = format!(
        "{scope} ({} object{}, {} other document{} skipped)",
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
