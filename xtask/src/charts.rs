//! Checks on the Helm charts under `charts/`: `helm lint --strict`, and the rendered
//! manifests validated against Kubernetes' OpenAPI schemas.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::command::{ToolEnv, output, run};
use crate::workspace::Workspace;

/// The Kubernetes API version the workspace builds against (k8s-openapi's `v1_33`
/// feature): charts are rendered and validated for it.
const KUBERNETES_VERSION: &str = "1.33.0";

/// Namespace the charts are rendered into, as the docs install them.
const NAMESPACE: &str = "mesh-system";

/// `helm lint --strict` on every chart.
pub(crate) fn lint(ws: &Workspace, env: &ToolEnv) -> Result<()> {
    for chart in find(ws)? {
        let mut helm = env.tool("helm");
        helm.args([
            "lint",
            "--strict",
            "--quiet",
            "--kube-version",
            KUBERNETES_VERSION,
        ])
        .arg(&chart);
        run(&mut helm).with_context(|| {
            format!(
                "{} does not pass `helm lint --strict`: fix what helm reports above",
                ws.display(&chart)
            )
        })?;
        println!("    {}: lint ok", ws.display(&chart));
    }
    Ok(())
}

/// Renders every chart (CRDs included) and validates each manifest strictly.
pub(crate) fn validate(ws: &Workspace, env: &ToolEnv) -> Result<()> {
    let out_dir = ws.scratch_dir().join("rendered");
    fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;
    for chart in find(ws)? {
        let name = dir_name(&chart);
        let mut helm = env.tool("helm");
        helm.args(["template", &name])
            .arg(&chart)
            .args(["--namespace", NAMESPACE, "--include-crds"])
            .args(["--kube-version", KUBERNETES_VERSION]);
        let rendered = output(&mut helm)
            .with_context(|| format!("`helm template` failed for {}", ws.display(&chart)))?;
        let manifests = out_dir.join(format!("{name}.yaml"));
        fs::write(&manifests, &rendered.stdout)
            .with_context(|| format!("could not write {}", manifests.display()))?;

        let mut validate = env.tool("kubernetes-validate");
        validate
            .args(["--strict", "--quiet", "-k", KUBERNETES_VERSION])
            .arg(&manifests);
        run(&mut validate).with_context(|| {
            format!(
                "the manifests rendered from {} are not valid Kubernetes {KUBERNETES_VERSION} \
                 objects (see {}): fix the chart's templates",
                ws.display(&chart),
                ws.display(&manifests)
            )
        })?;
        let count = String::from_utf8_lossy(&rendered.stdout)
            .lines()
            .filter(|line| *line == "---")
            .count();
        println!(
            "    {}: {count} manifests valid for Kubernetes {KUBERNETES_VERSION}",
            ws.display(&chart)
        );
    }
    Ok(())
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

fn dir_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
