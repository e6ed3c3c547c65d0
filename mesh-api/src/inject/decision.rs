//! Whether a pod gets a sidecar: Istio's rules (`injectRequired` and the webhook's
//! namespace and object selectors) as one pure function, so that the webhook and
//! `meshctl inject` decide alike.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Pod;
use kube::core::{Selector, SelectorExt as _};

use super::{InjectionConfig, PROXY_CONTAINER, STATUS_ANNOTATION};

/// Pod label or annotation that asks for (`true`) or refuses (`false`) a sidecar; the
/// label wins over the annotation, as in Istio.
pub const POD_INJECT: &str = "sidecar.istio.io/inject";
/// Our alias of [`POD_INJECT`].
pub const MESH_POD_INJECT: &str = "mesh.dev/inject";
/// Namespace label: `enabled` or `disabled` (Istio's).
pub const NAMESPACE_INJECT: &str = "istio-injection";
/// Namespace label: `enabled` or `disabled` (ours).
pub const MESH_NAMESPACE_INJECT: &str = "mesh.dev/inject";

/// Namespaces never injected, whatever their labels say (Istio's `IgnoredNamespaces`;
/// `local-path-storage` is kind's volume provisioner).
pub const IGNORED_NAMESPACES: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "local-path-storage",
];

/// The namespace's say, from its labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NamespaceInjection {
    Enabled,
    Disabled,
    /// No injection label: only pods that ask for a sidecar get one.
    Unset,
}

impl NamespaceInjection {
    /// `disabled` on either label wins, then `enabled` on either.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        let values = [NAMESPACE_INJECT, MESH_NAMESPACE_INJECT].map(|k| labels.get(k));
        if values.iter().flatten().any(|v| *v == "disabled") {
            NamespaceInjection::Disabled
        } else if values.iter().flatten().any(|v| *v == "enabled") {
            NamespaceInjection::Enabled
        } else {
            NamespaceInjection::Unset
        }
    }
}

/// The outcome, with the rule that decided it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Inject(InjectReason),
    Skip(SkipReason),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InjectReason {
    /// The pod's label or annotation (named) says `true`.
    PodAsked(String),
    AlwaysInjectSelector,
    NamespaceEnabled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The pod has a status annotation or a `mesh-proxy` container already.
    AlreadyInjected,
    /// iptables rules in a hostNetwork pod would change the node's routing.
    HostNetwork,
    IgnoredNamespace,
    /// The namespace is labelled `disabled`: this wins over the pod's label, as the
    /// Istio webhook's selectors make it.
    NamespaceDisabled,
    /// The pod's label or annotation (named) says `false`.
    PodOptedOut(String),
    NeverInjectSelector,
    /// Nothing asked for a sidecar.
    NotEnabled,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Inject(InjectReason::PodAsked(k)) => write!(f, "injected: {k}=true"),
            Decision::Inject(InjectReason::AlwaysInjectSelector) => {
                f.write_str("injected: the labels match alwaysInjectSelector")
            }
            Decision::Inject(InjectReason::NamespaceEnabled) => {
                f.write_str("injected: the namespace has injection enabled")
            }
            Decision::Skip(SkipReason::AlreadyInjected) => f.write_str("skipped: already injected"),
            Decision::Skip(SkipReason::HostNetwork) => f.write_str("skipped: hostNetwork pod"),
            Decision::Skip(SkipReason::IgnoredNamespace) => {
                f.write_str("skipped: system namespace")
            }
            Decision::Skip(SkipReason::NamespaceDisabled) => {
                f.write_str("skipped: the namespace has injection disabled")
            }
            Decision::Skip(SkipReason::PodOptedOut(k)) => write!(f, "skipped: {k}=false"),
            Decision::Skip(SkipReason::NeverInjectSelector) => {
                f.write_str("skipped: the labels match neverInjectSelector")
            }
            Decision::Skip(SkipReason::NotEnabled) => f.write_str(
                "skipped: neither the namespace (mesh.dev/inject=enabled) nor the pod (sidecar.istio.io/inject=true) asks for a sidecar",
            ),
        }
    }
}

/// Decides for `pod` in `namespace` (a pod under admission may have no namespace in
/// its metadata yet, so it is passed apart). Rules, first match wins: already
/// injected, hostNetwork, system namespace, namespace `disabled`, the pod's label or
/// annotation, neverInjectSelector, alwaysInjectSelector, namespace `enabled`.
pub fn decide(
    pod: &Pod,
    namespace: &str,
    namespace_injection: NamespaceInjection,
    config: &InjectionConfig,
) -> Decision {
    let meta = &pod.metadata;
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    if is_injected(pod) {
        return Decision::Skip(SkipReason::AlreadyInjected);
    }
    if pod.spec.as_ref().and_then(|s| s.host_network) == Some(true) {
        return Decision::Skip(SkipReason::HostNetwork);
    }
    if IGNORED_NAMESPACES.contains(&namespace) {
        return Decision::Skip(SkipReason::IgnoredNamespace);
    }
    if namespace_injection == NamespaceInjection::Disabled {
        return Decision::Skip(SkipReason::NamespaceDisabled);
    }
    let asked = [
        ("label", labels, MESH_POD_INJECT),
        ("label", labels, POD_INJECT),
        ("annotation", annotations, MESH_POD_INJECT),
        ("annotation", annotations, POD_INJECT),
    ]
    .into_iter()
    // Istio ignores a value other than true/false (with a warning) and falls through.
    .find_map(|(_, map, key)| match map.get(key).map(String::as_str) {
        Some("true") => Some((key, true)),
        Some("false") => Some((key, false)),
        _ => None,
    });
    match asked {
        Some((key, true)) => return Decision::Inject(InjectReason::PodAsked(key.into())),
        Some((key, false)) => return Decision::Skip(SkipReason::PodOptedOut(key.into())),
        None => {}
    }
    if matches_any(&config.never_inject_selector, labels) {
        return Decision::Skip(SkipReason::NeverInjectSelector);
    }
    if matches_any(&config.always_inject_selector, labels) {
        return Decision::Inject(InjectReason::AlwaysInjectSelector);
    }
    match namespace_injection {
        NamespaceInjection::Enabled => Decision::Inject(InjectReason::NamespaceEnabled),
        _ => Decision::Skip(SkipReason::NotEnabled),
    }
}

/// Already injected: our status annotation, or a proxy container in either list.
pub fn is_injected(pod: &Pod) -> bool {
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(STATUS_ANNOTATION));
    let has_proxy = pod.spec.as_ref().is_some_and(|s| {
        s.containers
            .iter()
            .chain(s.init_containers.iter().flatten())
            .any(|c| c.name == PROXY_CONTAINER)
    });
    annotated || has_proxy
}

/// Istio skips empty and invalid selectors (with a warning); so do we.
fn matches_any(
    selectors: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector],
    labels: &BTreeMap<String, String>,
) -> bool {
    selectors.iter().any(|s| {
        let empty = s.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
            && s.match_expressions.as_ref().is_none_or(Vec::is_empty);
        !empty
            && Selector::try_from(s.clone())
                .map(|sel| sel.matches(labels))
                .unwrap_or(false)
    })
}
