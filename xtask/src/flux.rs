//! Checks on the GitOps manifests in `deploy/flux/`: every object valid against Flux's
//! published CRDs (vendored in `xtask/testdata/flux/`) or Kubernetes' schemas, and the
//! HelmReleases a working install: their charts exist and accept their values, their
//! source is defined here, their namespaces are created here, and `dependsOn` orders
//! them mesh-base → mesh-control → mesh-ingress, as the seed's `helm install`s.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::charts::{self, KUBERNETES_VERSIONS};
use crate::command::{ToolEnv, output, run};
use crate::workspace::Workspace;

/// The HelmReleases in install order, as `flux get helmreleases -A` lists them and as
/// docs/install.md installs them by hand.
const RELEASE_ORDER: [&str; 3] = ["mesh-base", "mesh-control", "mesh-ingress"];

/// The fields of an object this check reads; the schemas check the rest.
#[derive(Debug, Deserialize)]
struct Object {
    kind: String,
    metadata: Metadata,
    #[serde(default)]
    spec: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

/// What a HelmRelease installs, and after which others.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Release {
    /// `namespace/name`.
    id: String,
    namespace: String,
    chart: String,
    source: String,
    depends_on: Vec<String>,
    values: serde_json::Value,
}

pub(crate) fn check(ws: &Workspace, env: &ToolEnv) -> Result<()> {
    let dir = ws.root().join("deploy").join("flux");
    let files = yaml_files(&dir)?;
    let crds = yaml_files(&ws.root().join("xtask").join("testdata").join("flux"))?;

    let mut python = charts::python(ws, env);
    python
        .arg("crd")
        .arg(KUBERNETES_VERSIONS.join(","))
        .args(&crds)
        .arg("--")
        .args(&files);
    run(&mut python).with_context(|| {
        format!(
            "{} does not match Flux's CRDs (xtask/testdata/flux/) or Kubernetes' schemas: \
             fix the objects named above",
            ws.display(&dir)
        )
    })?;

    let objects = read_objects(&files)?;
    let releases = releases(&objects)?;
    check_references(&objects, &releases)?;
    let order = install_order(&releases)?;
    if order != RELEASE_ORDER {
        bail!(
            "dependsOn orders the HelmReleases {}: expected {} (mesh-base, then \
             mesh-control, then the gateway), as docs/install.md installs them",
            order.join(" → "),
            RELEASE_ORDER.join(" → ")
        );
    }
    for release in &releases {
        check_chart_values(ws, env, release)?;
    }
    println!(
        "    {}: {} objects valid against Flux's CRDs and Kubernetes {} to {}; \
         HelmReleases {} render with their values",
        ws.display(&dir),
        objects.len(),
        KUBERNETES_VERSIONS[0],
        KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.len() - 1],
        order.join(" → ")
    );
    Ok(())
}

/// Every HelmRelease, with what this check needs from its spec.
fn releases(objects: &[Object]) -> Result<Vec<Release>> {
    let mut releases = Vec::new();
    for object in objects.iter().filter(|o| o.kind == "HelmRelease") {
        let namespace = object.metadata.namespace.clone().unwrap_or_default();
        let id = format!("{namespace}/{}", object.metadata.name);
        let chart_spec = &object.spec["chart"]["spec"];
        let Some(chart) = chart_spec["chart"].as_str() else {
            bail!("HelmRelease {id}: spec.chart.spec.chart must name a chart in this repository");
        };
        let source_ref = &chart_spec["sourceRef"];
        let source = format!(
            "{}/{}/{}",
            source_ref["kind"].as_str().unwrap_or_default(),
            source_ref["namespace"].as_str().unwrap_or(&namespace),
            source_ref["name"].as_str().unwrap_or_default()
        );
        let depends_on = object.spec["dependsOn"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    .map(|d| {
                        format!(
                            "{}/{}",
                            d["namespace"].as_str().unwrap_or(&namespace),
                            d["name"].as_str().unwrap_or_default()
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        releases.push(Release {
            id,
            namespace,
            chart: chart.to_owned(),
            source,
            depends_on,
            values: object.spec["values"].clone(),
        });
    }
    Ok(releases)
}

/// Sources, namespaces and dependencies named by the HelmReleases exist here.
fn check_references(objects: &[Object], releases: &[Release]) -> Result<()> {
    let defined: BTreeSet<String> = objects
        .iter()
        .map(|o| {
            format!(
                "{}/{}/{}",
                o.kind,
                o.metadata.namespace.as_deref().unwrap_or_default(),
                o.metadata.name
            )
        })
        .collect();
    let namespaces: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.kind == "Namespace")
        .map(|o| o.metadata.name.as_str())
        .collect();
    let ids: BTreeSet<&str> = releases.iter().map(|r| r.id.as_str()).collect();
    for release in releases {
        if !defined.contains(&release.source) {
            bail!(
                "HelmRelease {}: its source {} is not defined in deploy/flux/",
                release.id,
                release.source
            );
        }
        if !namespaces.contains(release.namespace.as_str()) {
            bail!(
                "HelmRelease {}: namespace {} is not created by deploy/flux/ (namespaces.yaml)",
                release.id,
                release.namespace
            );
        }
        if let Some(missing) = release
            .depends_on
            .iter()
            .find(|d| !ids.contains(d.as_str()))
        {
            bail!(
                "HelmRelease {} depends on {missing}, which deploy/flux/ does not define",
                release.id
            );
        }
    }
    Ok(())
}

/// Release names in the order `dependsOn` installs them (Kahn's algorithm, ties by
/// name); fails on a cycle.
fn install_order(releases: &[Release]) -> Result<Vec<String>> {
    let mut waiting: BTreeMap<&str, BTreeSet<&str>> = releases
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                r.depends_on.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let mut order = Vec::new();
    while !waiting.is_empty() {
        let Some(ready) = waiting
            .iter()
            .find(|(_, deps)| deps.is_empty())
            .map(|(id, _)| *id)
        else {
            let stuck: Vec<&str> = waiting.keys().copied().collect();
            bail!(
                "the HelmReleases {} depend on each other in a cycle",
                stuck.join(", ")
            );
        };
        waiting.remove(ready);
        for deps in waiting.values_mut() {
            deps.remove(ready);
        }
        let name = ready.rsplit('/').next().unwrap_or(ready);
        order.push(name.to_owned());
    }
    Ok(order)
}

/// `helm template` of the release's chart with its values: they pass the chart's
/// values.schema.json and render.
fn check_chart_values(ws: &Workspace, env: &ToolEnv, release: &Release) -> Result<()> {
    let chart = ws.root().join(release.chart.trim_start_matches("./"));
    if !chart.join("Chart.yaml").is_file() {
        bail!(
            "HelmRelease {}: chart {} is not a chart of this repository",
            release.id,
            release.chart
        );
    }
    let dir = ws.scratch_dir().join("flux");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let values = dir.join(format!("{}.values.json", release.id.replace('/', "-")));
    let json = if release.values.is_null() {
        "{}".to_owned()
    } else {
        release.values.to_string()
    };
    fs::write(&values, json).with_context(|| format!("could not write {}", values.display()))?;
    let mut helm = env.tool("helm");
    helm.args(["template", "release"])
        .arg(&chart)
        .args(["--namespace", &release.namespace, "--values"])
        .arg(&values);
    output(&mut helm).with_context(|| {
        format!(
            "HelmRelease {}: {} does not render with its spec.values",
            release.id, release.chart
        )
    })?;
    Ok(())
}

fn read_objects(files: &[PathBuf]) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "kustomization.yaml") {
            continue;
        }
        let text = fs::read_to_string(file)
            .with_context(|| format!("could not read {}", file.display()))?;
        for document in serde_norway::Deserializer::from_str(&text) {
            let object = Object::deserialize(document)
                .with_context(|| format!("{}: not a Kubernetes object", file.display()))?;
            objects.push(object);
        }
    }
    Ok(objects)
}

/// The `.yaml` files of `dir`, in name order.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("could not read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("no .yaml file in {}", dir.display());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: &str, depends_on: &[&str]) -> Release {
        Release {
            id: id.to_owned(),
            namespace: id.split('/').next().unwrap_or_default().to_owned(),
            chart: String::new(),
            source: String::new(),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            values: serde_json::Value::Null,
        }
    }

    #[test]
    fn depends_on_orders_a_chain_across_namespaces() {
        let releases = [
            release("mesh-ingress/mesh-ingress", &["mesh-system/mesh-control"]),
            release("mesh-system/mesh-control", &["mesh-system/mesh-base"]),
            release("mesh-system/mesh-base", &[]),
        ];
        assert_eq!(
            install_order(&releases).unwrap_or_default(),
            RELEASE_ORDER.map(String::from)
        );
    }

    #[test]
    fn a_dependency_cycle_is_an_error() {
        let releases = [release("a/x", &["a/y"]), release("a/y", &["a/x"])];
        assert!(install_order(&releases).is_err());
    }

    #[test]
    fn releases_read_chart_source_and_dependencies_with_default_namespaces() {
        let text = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\n\
                    metadata: {name: c, namespace: ns}\n\
                    spec:\n  chart:\n    spec:\n      chart: ./charts/c\n      \
                    sourceRef: {kind: GitRepository, name: repo}\n  \
                    dependsOn: [{name: b}, {name: a, namespace: other}]\n";
        let objects: Vec<Object> = serde_norway::Deserializer::from_str(text)
            .map(Object::deserialize)
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        let releases = releases(&objects).unwrap_or_default();
        assert_eq!(releases.len(), 1);
        assert_eq!(releases[0].chart, "./charts/c");
        assert_eq!(releases[0].source, "GitRepository/ns/repo");
        assert_eq!(releases[0].depends_on, ["ns/b", "other/a"]);
    }
}
