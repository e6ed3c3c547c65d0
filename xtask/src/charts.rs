//! Checks on the Helm charts under `charts/`: `helm lint --strict` with the default
//! values and each `ci/*.yaml`, every rendering validated against Kubernetes' OpenAPI
//! schemas for each supported Kubernetes version, each chart's `values.schema.json`
//! proven strict, and the injection webhooks' selectors checked case by case.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::command::{ToolEnv, describe, output, run};
use crate::webhook_selectors;
use crate::workspace::Workspace;

/// The Kubernetes versions the charts support (`kubeVersion: >=1.29.0-0`), each
/// rendered and validated.
pub(crate) const KUBERNETES_VERSIONS: [&str; 7] = [
    "1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0",
];

/// Validates manifests in one Python process; see the script's docstring.
pub(crate) const VALIDATE_PY: &str = include_str!("validate_manifests.py");

/// A value no chart has: every chart's schema must reject it.
const UNKNOWN_VALUE: &str = "notAValueOfThisChart: true\n";

/// A chart with one set of values, as `helm install` would be given it.
#[derive(Debug)]
struct Rendering {
    chart: PathBuf,
    /// `ci/<name>.yaml`, or `None` for the chart's defaults.
    values: Option<PathBuf>,
}

impl Rendering {
    fn chart_name(&self) -> String {
        file_stem(&self.chart)
    }

    /// `mesh-control` or `mesh-control/ci/external-control-plane.yaml`.
    fn label(&self, ws: &Workspace) -> String {
        match &self.values {
            None => ws.display(&self.chart).to_string(),
            Some(values) => ws.display(values).to_string(),
        }
    }

    /// `mesh-control` or `mesh-control-external-control-plane`, for file names.
    fn slug(&self) -> String {
        match &self.values {
            None => self.chart_name(),
            Some(values) => format!("{}-{}", self.chart_name(), file_stem(values)),
        }
    }

    /// The release name and namespace the docs install the chart as.
    fn release(&self) -> (&'static str, &'static str) {
        match self.chart_name().as_str() {
            "mesh-gateway" => ("mesh-ingress", "mesh-ingress"),
            "mesh-control" => ("mesh-control", "mesh-system"),
            _ => ("mesh-base", "mesh-system"),
        }
    }

    fn is_default_mesh_control(&self) -> bool {
        self.values.is_none() && self.chart_name() == "mesh-control"
    }

    fn values_args(&self, cmd: &mut Command) {
        if let Some(values) = &self.values {
            cmd.arg("--values").arg(values);
        }
    }
}

/// `helm lint --strict` on every chart with every values file, and proof that each
/// chart's values schema rejects an unknown value.
pub(crate) fn lint(ws: &Workspace, env: &ToolEnv) -> Result<()> {
    let newest = KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.len() - 1];
    for rendering in renderings(ws)? {
        let mut helm = env.tool("helm");
        helm.args(["lint", "--strict", "--quiet", "--kube-version", newest]);
        rendering.values_args(&mut helm);
        helm.arg(&rendering.chart);
        run(&mut helm).with_context(|| {
            format!(
                "{} does not pass `helm lint --strict`: fix what helm reports above",
                rendering.label(ws)
            )
        })?;
        println!("    {}: lint ok", rendering.label(ws));
    }
    for chart in find(ws)? {
        schema_rejects_unknown_values(ws, env, &chart)?;
    }
    Ok(())
}

/// `helm lint` must fail on a value the chart does not have: the chart has a
/// `values.schema.json` and it does not allow additional properties.
fn schema_rejects_unknown_values(ws: &Workspace, env: &ToolEnv, chart: &Path) -> Result<()> {
    if !chart.join("values.schema.json").is_file() {
        bail!(
            "{} has no values.schema.json: every chart validates its values",
            ws.display(chart)
        );
    }
    let dir = ws.scratch_dir().join("charts");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let bad = dir.join("unknown-value.yaml");
    fs::write(&bad, UNKNOWN_VALUE).with_context(|| format!("could not write {}", bad.display()))?;
    let mut helm = env.tool("helm");
    helm.args(["lint", "--strict", "--values"])
        .arg(&bad)
        .arg(chart);
    let shown = describe(&helm);
    let out = helm
        .output()
        .with_context(|| format!("could not start `{shown}`: is it installed?"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() || !text.contains("notAValueOfThisChart") {
        bail!(
            "{}: `{shown}` accepted the unknown value `{}`: values.schema.json must set \
             \"additionalProperties\": false",
            ws.display(chart),
            UNKNOWN_VALUE.trim()
        );
    }
    println!(
        "    {}: values.schema.json rejects unknown values",
        ws.display(chart)
    );
    Ok(())
}

/// Renders every chart with every values file, then validates everything strictly for
/// each Kubernetes version in one process. A chart whose templates read
/// `.Capabilities` is rendered once per version; the others render the same for all.
pub(crate) fn validate(ws: &Workspace, env: &ToolEnv) -> Result<()> {
    let renderings = renderings(ws)?;
    let mut pairs = Vec::new();
    let mut objects = 0;
    for rendering in &renderings {
        let per_version = uses_capabilities(&rendering.chart.join("templates"))?;
        let mut file = None;
        for version in KUBERNETES_VERSIONS {
            if file.is_none() || per_version {
                let (path, count) = render(ws, env, rendering, version)?;
                objects += count;
                file = Some(path);
            }
            if let Some(path) = &file {
                pairs.push(format!("{version}:{}", path.display()));
            }
        }
        if let (Some(path), true) = (&file, rendering.is_default_mesh_control()) {
            let rendered = fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            let cases = webhook_selectors::check(&rendered)?;
            println!(
                "    {}: {cases} injection selector cases reach the expected webhook",
                rendering.label(ws)
            );
        }
    }
    let mut python = python(ws, env);
    python.arg("kube").args(&pairs);
    run(&mut python).with_context(|| {
        format!(
            "rendered manifests are not valid Kubernetes objects (see the lines above and \
             {}): fix the chart's templates",
            ws.display(&ws.scratch_dir().join("rendered"))
        )
    })?;
    println!(
        "    {} renderings of {} charts (default and ci/ values), {objects} objects, valid \
         for Kubernetes {}",
        renderings.len(),
        find(ws)?.len(),
        KUBERNETES_VERSIONS.join(", ")
    );
    Ok(())
}

/// `helm template` of one rendering for `version`: the file and its object count.
fn render(
    ws: &Workspace,
    env: &ToolEnv,
    rendering: &Rendering,
    version: &str,
) -> Result<(PathBuf, usize)> {
    let dir = ws.scratch_dir().join("rendered").join(version);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let (release, namespace) = rendering.release();
    let mut helm = env.tool("helm");
    helm.args(["template", release])
        .arg(&rendering.chart)
        .args(["--namespace", namespace, "--kube-version", version]);
    // crds/ does not depend on values: validate it once, with the defaults.
    if rendering.values.is_none() {
        helm.arg("--include-crds");
    }
    rendering.values_args(&mut helm);
    let rendered = output(&mut helm).with_context(|| {
        format!(
            "`helm template` failed for {} (Kubernetes {version})",
            rendering.label(ws)
        )
    })?;
    let file = dir.join(format!("{}.yaml", rendering.slug()));
    fs::write(&file, &rendered.stdout)
        .with_context(|| format!("could not write {}", file.display()))?;
    let count = String::from_utf8_lossy(&rendered.stdout)
        .lines()
        .filter(|line| *line == "---")
        .count();
    Ok((file, count))
}

/// Whether any template under `dir` reads `.Capabilities` (and so may render
/// differently for another Kubernetes version).
fn uses_capabilities(dir: &Path) -> Result<bool> {
    for entry in fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))? {
        let path = entry?.path();
        let found = if path.is_dir() {
            uses_capabilities(&path)?
        } else {
            fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?
                .contains(".Capabilities")
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `python3 validate_manifests.py` with the packages `cargo xtask tools` installed.
pub(crate) fn python(ws: &Workspace, env: &ToolEnv) -> Command {
    let mut python = env.command("python3");
    python
        .env("PYTHONPATH", ws.tools_dir().join("python"))
        .args(["-c", VALIDATE_PY]);
    python
}

/// Every chart with its default values, then with each of its `ci/*.yaml`.
fn renderings(ws: &Workspace) -> Result<Vec<Rendering>> {
    let mut all = Vec::new();
    for chart in find(ws)? {
        all.push(Rendering {
            chart: chart.clone(),
            values: None,
        });
        let ci = chart.join("ci");
        if !ci.is_dir() {
            continue;
        }
        let mut values = Vec::new();
        for entry in
            fs::read_dir(&ci).with_context(|| format!("could not read {}", ci.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "yaml") {
                values.push(path);
            }
        }
        values.sort();
        all.extend(values.into_iter().map(|values| Rendering {
            chart: chart.clone(),
            values: Some(values),
        }));
    }
    Ok(all)
}

/// Every directory under `charts/` with a `Chart.yaml`, in name order.
fn find(ws: &Workspace) -> Result<Vec<PathBuf>> {
    let dir = ws.charts_dir();
    let mut charts = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("could not read {}", dir.display()))? {
        let path = entry?.path();
        if path.join("Chart.yaml").is_file() {
            charts.push(path);
        }
    }
    charts.sort();
    if charts.is_empty() {
        bail!(
            "no chart (a directory with Chart.yaml) under {}",
            dir.display()
        );
    }
    Ok(charts)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
