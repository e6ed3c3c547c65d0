//! `meshctl inject`: the sidecar injector offline (istioctl kube-inject), over
//! multi-document YAML. Pods and the pod templates of Deployments, StatefulSets,
//! DaemonSets, ReplicaSets, Jobs and CronJobs get the sidecar the webhook would
//! give them (`mesh_api::inject`); every other document is passed through as written.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::core::v1::Pod;
use mesh_api::inject::{
    Decision, InjectionConfig, KubernetesVersion, NamespaceInjection, decide, inject, json_patch,
    pod_from_json, workload_name,
};
use serde_json::{Value, json};

/// Inject the mesh sidecar into Kubernetes workloads, offline.
///
/// Reads multi-document YAML; Pods, and the pod templates of Deployments,
/// StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs, get the sidecar the
/// injection webhook would add (init container `mesh-redirect`, proxy `mesh-proxy`,
/// probes rewritten, Istio's annotations honoured). Namespaces are not read: every
/// workload is injected unless it opts out (`sidecar.istio.io/inject: "false"`), is a
/// hostNetwork pod, or is injected already. Other documents are printed unchanged.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  meshctl inject -f deployment.yaml | kubectl apply -f -\n  kubectl get deploy reviews -o yaml | meshctl inject -f - -o injected.yaml\n  meshctl inject -f app.yaml --injection-config config.yaml --kubernetes-version 1.28"
)]
pub(crate) struct InjectArgs {
    /// The manifests; `-` reads stdin.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: PathBuf,
    /// Where to write the result (default: stdout).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The injector's config (the `config.yaml` of ConfigMap mesh-sidecar-injector);
    /// default: the built-in defaults.
    #[arg(long, value_name = "FILE")]
    injection_config: Option<PathBuf>,
    /// The cluster's Kubernetes version, for `nativeSidecar: auto` (native from 1.29);
    /// default: native sidecars.
    #[arg(long, value_name = "VERSION")]
    kubernetes_version: Option<KubernetesVersion>,
}

pub(crate) fn run(args: &InjectArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.injection_config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            InjectionConfig::from_yaml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => InjectionConfig::default(),
    };
    let (name, text) = read_input(&args.file)?;
    let out = inject_manifests(&name, &text, &config, args.kubernetes_version)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?
        }
        None => std::io::stdout()
            .write_all(out.as_bytes())
            .context("cannot write to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &Path) -> anyhow::Result<(String, String)> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read stdin")?;
        return Ok(("<stdin>".into(), text));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// Injects every workload of `text` (from `file`, for the errors). Documents that
/// change are re-serialized; the others keep their text, comments included.
pub(crate) fn inject_manifests(
    file: &str,
    text: &str,
    config: &InjectionConfig,
    kubernetes: Option<KubernetesVersion>,
) -> anyhow::Result<String> {
    let mut out = Vec::new();
    for (index, doc) in split_documents(text).into_iter().enumerate() {
        let at = format!("{file}: document {}", index + 1);
        let value: Value = match serde_norway::from_str(doc) {
            Ok(v) => v,
            Err(e) => anyhow::bail!("{at}: not YAML: {e}"),
        };
        let mut changed = value.clone();
        if inject_object(&mut changed, config, kubernetes)
            .map_err(|e| anyhow::anyhow!("{at}{e}"))?
        {
            out.push(serde_norway::to_string(&changed).with_context(|| at.clone())?);
        } else {
            out.push(doc.to_string());
        }
    }
    Ok(out
        .iter()
        .map(|d| d.trim_end_matches('\n').to_string() + "\n")
        .collect::<Vec<_>>()
        .join("---\n"))
}

/// Splits at `---` lines; a leading `---` and empty documents are dropped.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Injects the pod (template) of one object; `Ok(false)` when nothing changed. The
/// error starts with the object and the field, after the caller's location.
fn inject_object(
    object: &mut Value,
    config: &InjectionConfig,
    kubernetes: Option<KubernetesVersion>,
) -> Result<bool, String> {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    if kind == "List" {
        let mut changed = false;
        for item in object["items"].as_array_mut().into_iter().flatten() {
            changed |= inject_object(item, config, kubernetes)?;
        }
        return Ok(changed);
    }
    let template_path: &[&str] = match kind.as_str() {
        "Pod" => &[],
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => &["spec", "template"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template"],
        _ => return Ok(false),
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let what = format!(" ({kind} {namespace}/{name})");
    let field = if template_path.is_empty() {
        "the pod".to_string()
    } else {
        template_path.join(".")
    };
    let mut template = &mut *object;
    for key in template_path {
        template = template
            .get_mut(*key)
            .ok_or_else(|| format!("{what}: {field}: missing"))?;
    }
    let pod_json = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template.get("metadata").cloned().unwrap_or(json!({})),
        "spec": template.get("spec").cloned().unwrap_or(Value::Null),
    });
    // The pod's fields are named from the template (`spec.template.spec.containers`).
    let prefix = if template_path.is_empty() {
        String::new()
    } else {
        format!("{field}.")
    };
    let pod: Pod = pod_from_json(pod_json).map_err(|e| format!("{what}: {prefix}{e}"))?;
    if let Decision::Skip(_) = decide(&pod, &namespace, NamespaceInjection::Enabled, config) {
        return Ok(false);
    }
    let workload = if kind == "Pod" {
        workload_name(&pod)
    } else {
        name
    };
    let injected =
        inject(&pod, &workload, config, kubernetes).map_err(|e| format!("{what}: {field}: {e}"))?;
    // The change as a patch on the document: fields these types do not know stay.
    let before = serde_json::to_value(&pod).map_err(|e| format!("{what}: {e}"))?;
    let after = serde_json::to_value(&injected).map_err(|e| format!("{what}: {e}"))?;
    let patch: json_patch::Patch =
        serde_json::from_value(json_patch(&before, &after)).map_err(|e| format!("{what}: {e}"))?;
    let mut target = json!({
        "metadata": template.get("metadata").cloned().unwrap_or(json!({})),
        "spec": template.get("spec").cloned().unwrap_or(Value::Null),
    });
    json_patch::patch(&mut target, &patch).map_err(|e| format!("{what}: {e}"))?;
    template["metadata"] = target["metadata"].take();
    template["spec"] = target["spec"].take();
    Ok(true)
}

#[cfg(test)]
mod tests;
