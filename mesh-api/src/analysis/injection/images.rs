//! Sidecar images: pods of injected namespaces run the proxy image the injector is
//! configured with (Istio's `injection.ImageAnalyzer`), and `image: auto` is only used
//! where an injection webhook will replace it (`ImageAutoAnalyzer`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{INJECTOR_CONFIG_MAP, REVISION_LABEL, injector_values};
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, InputObject, items, string_map};
use crate::analysis::labels::{Labels, label_selector_matches, selects};
use crate::analysis::message::Message;
use crate::analysis::workloads::{ISTIO_INJECTION_LABEL, containers, is_proxy, pod_template};

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    mismatched_images(cx, out);
    image_auto(cx, out);
}

fn mismatched_images(cx: &Context<'_>, out: &mut Vec<Message>) {
    let images: BTreeMap<&str, String> = cx
        .unique(InputKind::ConfigMap)
        .filter(|cm| cm.name.starts_with(INJECTOR_CONFIG_MAP))
        .map(|cm| (cm.name.as_str(), configured_image(cm)))
        .collect();
    if images.is_empty() {
        return;
    }
    let mut mismatched: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for pod in cx.unique(InputKind::Pod) {
        let Some(ns) = cx.find(InputKind::Namespace, "", &pod.namespace) else {
            continue;
        };
        let revision = match (ns.label(ISTIO_INJECTION_LABEL), ns.label(REVISION_LABEL)) {
            (_, Some(rev)) => rev,
            (Some("enabled"), None) => "default",
            _ => continue,
        };
        if pod
            .annotation("sidecar.istio.io/proxyImage")
            .is_some_and(|i| !i.is_empty())
        {
            continue;
        }
        let config_map = if revision == "default" || revision.is_empty() {
            INJECTOR_CONFIG_MAP.to_string()
        } else {
            format!("{INJECTOR_CONFIG_MAP}-{revision}")
        };
        let Some(expected) = images.get(config_map.as_str()) else {
            continue;
        };
        let variant = image_type(cx, pod);
        for container in containers(pod.spec()).filter(|c| is_proxy(c)) {
            let image = container["image"].as_str().unwrap_or_default();
            if image != expected && image != format!("{expected}-{variant}") {
                mismatched.entry(&ns.name).or_default().push(&pod.name);
            }
        }
    }
    for (namespace, mut pods) in mismatched {
        let Some(ns) = cx.find(InputKind::Namespace, "", namespace) else {
            continue;
        };
        pods.sort_unstable();
        out.push(cx.message(
            codes::PODS_ISTIO_PROXY_IMAGE_MISMATCH_IN_NAMESPACE,
            ns,
            None,
            format!(
                "The Istio proxy images of the pods running in the namespace do not match the image defined in the injection configuration (pod names: [{}]). This often happens after upgrading the Istio control-plane and can be fixed by redeploying the pods.",
                pods.join(" ")
            ),
            "redeploy the pods (kubectl rollout restart) so that they get the configured proxy image",
        ));
    }
}

/// The proxy image an injector ConfigMap configures (`global.proxy.image`, with
/// `global.hub` and `global.tag` unless it is a full reference).
fn configured_image(cm: &InputObject) -> String {
    let Some(values) = injector_values(cm) else {
        return String::new();
    };
    let global = &values["global"];
    let image = global["proxy"]["image"].as_str().unwrap_or_default();
    if image.contains('/') {
        return image.to_string();
    }
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v.as_f64().map(|f| f.to_string()))
            .unwrap_or_default()
    };
    format!("{}/{image}:{}", text(&global["hub"]), text(&global["tag"]))
}

/// The image variant (`distroless`, …) in force for a pod: mesh config, then the root
/// namespace's ProxyConfig, the namespace's, a selecting one, the pod's annotation.
fn image_type(cx: &Context<'_>, pod: &InputObject) -> String {
    let mut variant = cx
        .options
        .mesh_config
        .image_type
        .clone()
        .unwrap_or_default();
    let mut set = |v: &Value| {
        if let Some(t) = v["image"]["imageType"].as_str().filter(|t| !t.is_empty()) {
            variant = t.to_string();
        }
    };
    let configs: Vec<&InputObject> = cx.unique(InputKind::ProxyConfig).collect();
    for pc in configs
        .iter()
        .filter(|pc| pc.namespace == cx.root_namespace())
    {
        set(pc.spec());
    }
    let labels = pod.labels();
    for pc in configs
        .iter()
        .filter(|pc| pc.namespace == pod.namespace && pc.namespace != cx.root_namespace())
    {
        let selector = &pc.spec()["selector"]["matchLabels"];
        if selector.is_null() || selects(&string_map(selector), &labels) {
            set(pc.spec());
        }
    }
    if let Some(annotation) = pod.annotation("proxy.istio.io/config")
        && let Ok(config) = serde_norway::from_str::<Value>(annotation)
    {
        set(&config);
    }
    if variant == "default" {
        variant.clear();
    }
    variant
}

fn image_auto(cx: &Context<'_>, out: &mut Vec<Message>) {
    let webhooks: Vec<&Value> = cx
        .unique(InputKind::MutatingWebhookConfiguration)
        .flat_map(|c| items(&c.value["webhooks"]))
        .filter(|w| w["name"].as_str().is_some_and(|n| n.ends_with("istio.io")))
        .collect();
    for pod in cx.all(InputKind::Pod) {
        if has_auto_image(pod) {
            out.push(cx.message(
                codes::IMAGE_AUTO_WITHOUT_INJECTION_ERROR,
                pod,
                Some("spec.containers".to_string()),
                format!("Pod {} contains `image: auto` but does not match any Istio injection webhook selectors.", pod.name),
                "create the pod from a Deployment in an injected namespace: only the injector replaces image: auto",
            ));
        }
    }
    for deployment in cx.all(InputKind::Deployment) {
        if !has_auto_image(deployment) {
            continue;
        }
        let ns_labels: Labels = cx
            .find(InputKind::Namespace, "", &deployment.namespace)
            .map(InputObject::labels)
            .unwrap_or_default();
        let pod_labels = string_map(&pod_template(deployment).0["labels"]);
        let injected = webhooks.iter().any(|w| {
            label_selector_matches(&w["namespaceSelector"], &ns_labels)
                && label_selector_matches(&w["objectSelector"], &pod_labels)
        });
        if !injected {
            out.push(cx.message(
                codes::IMAGE_AUTO_WITHOUT_INJECTION_WARNING,
                deployment,
                Some("spec.template.spec.containers".to_string()),
                format!(
                    "Deployment {} contains `image: auto` but does not match any Istio injection webhook selectors.",
                    deployment.name
                ),
                "label the namespace (istio-injection=enabled) or the pods so that an Istio injection webhook selects them",
            ));
        }
    }
}

fn has_auto_image(entry: &InputObject) -> bool {
    items(&pod_template(entry).1["containers"])
        .iter()
        .any(|c| is_proxy(c) && c["image"] == "auto")
}
