//! The checks of `meshctl precheck`, each a few API reads turned into a [`Check`].
//! The judgement is in plain functions over what was read, so the tests feed them
//! API answers through a mocked client.

use std::collections::BTreeSet;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt as _};

/// The Kubernetes versions mesh is tested on (native sidecars need 1.29).
pub(crate) const OLDEST_MINOR: u32 = 29;
pub(crate) const NEWEST_TESTED_MINOR: u32 = 35;

/// The namespace labels our injector (and Istio's) selects.
const INJECTION_LABELS: [&str; 3] = ["mesh.dev/inject", "istio-injection", "istio.io/rev"];

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
    pub(crate) detail: String,
    /// What to do, for a warning or a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fix: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    Pass,
    /// Install works, but something deserves a look.
    Warn,
    /// Install would fail or break the cluster.
    Fail,
}

impl Check {
    fn pass(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.to_string(),
            outcome: Outcome::Pass,
            detail: detail.into(),
            fix: None,
        }
    }
    fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            outcome: Outcome::Warn,
            fix: Some(fix.into()),
            ..Check::pass(name, detail)
        }
    }
    fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            outcome: Outcome::Fail,
            fix: Some(fix.into()),
            ..Check::pass(name, detail)
        }
    }
}

/// Every check, in the order of the report. A check whose reads fail reports that
/// as its failure; the others still run.
pub(crate) async fn run_all(client: &Client, mesh_namespace: &str) -> Vec<Check> {
    let mut checks = vec![kubernetes_version(client).await];
    checks.extend(permissions(client, mesh_namespace).await);
    checks.extend(istio(client).await);
    checks.push(injected_namespaces(client).await);
    checks.push(mesh_namespace_state(client, mesh_namespace).await);
    checks
}

const VERSION: &str = "Kubernetes version";

async fn kubernetes_version(client: &Client) -> Check {
    match client.apiserver_version().await {
        Ok(info) => judge_version(&info.major, &info.minor, &info.git_version),
        Err(e) => Check::fail(
            VERSION,
            format!("the API server did not say its version: {e}"),
            "check that the cluster is up: `kubectl version`",
        ),
    }
}

/// `minor` as the API server writes it ("33", or "33+" on some providers).
pub(crate) fn judge_version(major: &str, minor: &str, git_version: &str) -> Check {
    let minor_number = minor.trim_end_matches('+').parse::<u32>();
    match (major, minor_number) {
        ("1", Ok(m)) if m < OLDEST_MINOR => Check::fail(
            VERSION,
            format!("{git_version} is older than 1.{OLDEST_MINOR}"),
            format!(
                "upgrade the cluster to Kubernetes 1.{OLDEST_MINOR} or newer (native sidecars)"
            ),
        ),
        ("1", Ok(m)) if m > NEWEST_TESTED_MINOR => Check::warn(
            VERSION,
            format!(
                "{git_version} is newer than mesh is tested on (1.{OLDEST_MINOR}–1.{NEWEST_TESTED_MINOR})"
            ),
            "expect it to work; report problems with the Kubernetes version in the issue",
        ),
        ("1", Ok(_)) => Check::pass(
            VERSION,
            format!("{git_version} (supported: 1.{OLDEST_MINOR}–1.{NEWEST_TESTED_MINOR})"),
        ),
        _ => Check::warn(
            VERSION,
            format!("cannot read the version {major}.{minor} ({git_version})"),
            format!(
                "make sure the cluster runs Kubernetes 1.{OLDEST_MINOR}–1.{NEWEST_TESTED_MINOR}"
            ),
        ),
    }
}

/// What `meshctl install` creates: (verb, group, resource, namespaced in mesh ns).
pub(crate) const NEEDED: [(&str, &str, &str, bool); 12] = [
    ("create", "", "namespaces", false),
    (
        "create",
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        false,
    ),
    ("create", "rbac.authorization.k8s.io", "clusterroles", false),
    (
        "create",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        false,
    ),
    (
        "create",
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        false,
    ),
    (
        "create",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        false,
    ),
    ("create", "apps", "deployments", true),
    ("create", "", "services", true),
    ("create", "", "serviceaccounts", true),
    ("create", "", "configmaps", true),
    ("create", "rbac.authorization.k8s.io", "roles", true),
    ("create", "rbac.authorization.k8s.io", "rolebindings", true),
];

async fn permissions(client: &Client, mesh_namespace: &str) -> Vec<Check> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut denied = Vec::new();
    for (verb, group, resource, namespaced) in NEEDED {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.to_string()),
                    group: Some(group.to_string()),
                    resource: Some(resource.to_string()),
                    namespace: namespaced.then(|| mesh_namespace.to_string()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        let what = match group {
            "" => resource.to_string(),
            g => format!("{resource}.{g}"),
        };
        match reviews.create(&PostParams::default(), &review).await {
            Ok(answer) if answer.status.as_ref().is_some_and(|s| s.allowed) => {}
            Ok(_) => denied.push(format!("{verb} {what}")),
            Err(e) => {
                return vec![Check::fail(
                    "Permissions",
                    format!("cannot ask the API server what you may do: {e}"),
                    "check the cluster and your credentials: `kubectl auth can-i --list`",
                )];
            }
        }
    }
    vec![judge_permissions(&denied, mesh_namespace)]
}

pub(crate) fn judge_permissions(denied: &[String], mesh_namespace: &str) -> Check {
    const NAME: &str = "Permissions";
    if denied.is_empty() {
        return Check::pass(NAME, "you may create everything install needs");
    }
    Check::fail(
        NAME,
        format!("you may not: {}", denied.join(", ")),
        format!(
            "install needs cluster-admin-like rights (CRDs, cluster roles, webhooks) and \
             rights in {mesh_namespace}; ask a cluster admin, or let one run `meshctl install`"
        ),
    )
}

/// Istio's CRDs, istiod and its injector: what the two meshes would share.
async fn istio(client: &Client) -> Vec<Check> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let istio_crds: Vec<(String, bool)> = match crds.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .filter(|c| c.spec.group.ends_with("istio.io"))
            .map(|c| {
                let ours = c
                    .annotations()
                    .get("meta.helm.sh/release-name")
                    .map(String::as_str)
                    == Some("mesh-base");
                (c.name_any(), ours)
            })
            .collect(),
        Err(e) => {
            return vec![Check::fail(
                "Istio",
                format!("cannot list CustomResourceDefinitions: {e}"),
                "you need `list customresourcedefinitions`; ask a cluster admin",
            )];
        }
    };
    let webhooks: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let istio_injectors: Vec<String> = webhooks
        .list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .map(|w| w.name_any())
                .filter(|n| {
                    n.starts_with("istio-sidecar-injector") || n.starts_with("istio-revision-tag")
                })
                .collect()
        })
        .unwrap_or_default();
    let deployments: Api<Deployment> = Api::all(client.clone());
    let istiod: Vec<String> = deployments
        .list(&ListParams::default().labels("app=istiod"))
        .await
        .map(|list| {
            list.items
                .iter()
                .map(|d| format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any()))
                .collect()
        })
        .unwrap_or_default();
    judge_istio(&istio_crds, &istiod, &istio_injectors)
}

pub(crate) fn judge_istio(
    crds: &[(String, bool)],
    istiod: &[String],
    injectors: &[String],
) -> Vec<Check> {
    let mut checks = Vec::new();
    let foreign: Vec<&str> = crds
        .iter()
        .filter(|(_, ours)| !ours)
        .map(|(n, _)| n.as_str())
        .collect();
    checks.push(if foreign.is_empty() {
        Check::pass("Istio CRDs", "none but mesh-base's")
    } else {
        Check::warn(
            "Istio CRDs",
            format!(
                "{} CRD(s) of Istio's groups exist, not from mesh-base (e.g. {}); mesh reads \
                 their objects",
                foreign.len(),
                foreign[0]
            ),
            "keep mesh-base's istioCRDs.enabled=false (the default): mesh-base cannot \
             adopt CRDs another installation created",
        )
    });
    checks.push(if istiod.is_empty() && injectors.is_empty() {
        Check::pass("Istio control plane", "none found")
    } else {
        let mut found: Vec<String> = istiod.iter().map(|d| format!("deployment {d}")).collect();
        found.extend(injectors.iter().map(|w| format!("webhook {w}")));
        Check::warn(
            "Istio control plane",
            format!("Istio is installed: {}", found.join(", ")),
            "both meshes inject namespaces labelled istio-injection=enabled: label the \
             namespaces for mesh with mesh.dev/inject=enabled instead, or uninstall Istio first",
        )
    });
    checks
}

async fn injected_namespaces(client: &Client) -> Check {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.list(&ListParams::default()).await {
        Ok(list) => {
            let labelled: BTreeSet<String> = list
                .items
                .iter()
                .filter_map(|ns| {
                    let labels = ns.labels();
                    let label = INJECTION_LABELS
                        .iter()
                        .find_map(|l| labels.get(*l).map(|v| format!("{l}={v}")))?;
                    Some(format!("{} ({label})", ns.name_any()))
                })
                .collect();
            let detail = if labelled.is_empty() {
                "none yet; label one with `kubectl label namespace NS mesh.dev/inject=enabled`"
                    .to_string()
            } else {
                labelled.into_iter().collect::<Vec<_>>().join(", ")
            };
            Check::pass("Namespaces labelled for injection", detail)
        }
        Err(e) => Check::fail(
            "Namespaces labelled for injection",
            format!("cannot list namespaces: {e}"),
            "you need `list namespaces`; ask a cluster admin",
        ),
    }
}

async fn mesh_namespace_state(client: &Client, mesh_namespace: &str) -> Check {
    let name = format!("Namespace {mesh_namespace}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = match namespaces.get_opt(mesh_namespace).await {
        Ok(ns) => ns,
        Err(e) => {
            return Check::fail(
                &name,
                format!("cannot read it: {e}"),
                "you need `get namespaces`; ask a cluster admin",
            );
        }
    };
    let phase = namespace
        .as_ref()
        .and_then(|ns| ns.status.as_ref())
        .and_then(|s| s.phase.clone());
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), mesh_namespace);
    let installed = match namespace {
        Some(_) => deployments
            .get_opt("mesh-control")
            .await
            .ok()
            .flatten()
            .is_some(),
        None => false,
    };
    judge_mesh_namespace(&name, namespace.is_some(), phase.as_deref(), installed)
}

pub(crate) fn judge_mesh_namespace(
    name: &str,
    exists: bool,
    phase: Option<&str>,
    installed: bool,
) -> Check {
    match (exists, phase, installed) {
        (false, _, _) => Check::pass(name, "does not exist yet; install creates it"),
        (true, Some("Terminating"), _) => Check::fail(
            name,
            "is being deleted",
            "wait until `kubectl get namespace` no longer lists it, then install",
        ),
        (true, _, true) => Check::pass(
            name,
            "mesh-control is already installed; `meshctl install` upgrades it",
        ),
        (true, _, false) => Check::pass(name, "exists, mesh-control not installed yet"),
    }
}
