//! Which hosts exist for a config in a namespace, as Istio's analyzers decide it:
//! ServiceEntry hosts and Kubernetes Services, each visible in the namespaces its
//! `exportTo` (or `networking.istio.io/exportTo` annotation) names, wildcard entries
//! covering the names under them.
//!
//! One mesh extension: `name.namespace` and `name.namespace.svc` name a Service, as
//! the control plane resolves them (Istio takes them literally).

use std::collections::BTreeMap;

use super::Context;
use super::input::string_map;
use super::input::{InputKind, InputObject, items, strings};
use super::labels::Labels;
use crate::model::hostname::DOMAIN_SUFFIX;
use crate::object::Kind;

/// `exportTo` value: every namespace.
pub(crate) const EXPORT_TO_ALL: &str = "*";
/// `exportTo` value: the object's own namespace.
pub(crate) const EXPORT_TO_LOCAL: &str = ".";

/// A host some ServiceEntry or Service defines.
#[derive(Debug, Clone)]
pub(crate) struct DefinedHost<'a> {
    /// The ServiceEntry or Service.
    pub(crate) entry: &'a InputObject,
    /// Port numbers, in definition order.
    pub(crate) ports: Vec<u32>,
    /// A ServiceEntry's `workloadSelector.labels` (empty for Services).
    pub(crate) workload_selector: Labels,
}

/// Every defined host, by the namespace it is visible in (`*` for all) and FQDN.
#[derive(Debug, Default)]
pub(crate) struct ServiceHosts<'a> {
    hosts: BTreeMap<(String, String), DefinedHost<'a>>,
}

/// A host as Istio writes it fully: short names become services of `namespace`.
pub(crate) fn to_fqdn(namespace: &str, host: &str) -> String {
    if host.starts_with('*') || host.contains('.') {
        host.to_string()
    } else {
        format!("{host}.{namespace}.svc.{DOMAIN_SUFFIX}")
    }
}

/// The namespaces a list of `exportTo` values makes an object of `namespace` visible
/// in (`*` alone when it is visible everywhere).
pub(crate) fn export_scopes(namespace: &str, export_to: &[&str]) -> Vec<String> {
    if export_to.is_empty() || export_to.contains(&EXPORT_TO_ALL) {
        return vec![EXPORT_TO_ALL.to_string()];
    }
    let mut scopes: Vec<String> = export_to
        .iter()
        .map(|e| {
            if *e == EXPORT_TO_LOCAL {
                namespace.to_string()
            } else {
                (*e).to_string()
            }
        })
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

impl<'a> ServiceHosts<'a> {
    pub(crate) fn new(cx: &Context<'a>) -> ServiceHosts<'a> {
        let mut hosts = BTreeMap::new();
        for se in cx.all(InputKind::Mesh(Kind::ServiceEntry)) {
            let spec = se.spec();
            let defined = DefinedHost {
                entry: se,
                ports: items(&spec["ports"])
                    .iter()
                    .filter_map(|p| p["number"].as_u64())
                    .filter_map(|n| u32::try_from(n).ok())
                    .collect(),
                workload_selector: string_map(&spec["workloadSelector"]["labels"]),
            };
            let scopes = export_scopes(&se.namespace, &strings(&spec["exportTo"]));
            for host in strings(&spec["hosts"]) {
                for scope in &scopes {
                    hosts.insert(
                        (scope.clone(), to_fqdn(&se.namespace, host)),
                        defined.clone(),
                    );
                }
            }
        }
        for svc in cx.all(InputKind::Mesh(Kind::Service)) {
            let defined = DefinedHost {
                entry: svc,
                ports: items(&svc.spec()["ports"])
                    .iter()
                    .filter_map(|p| p["port"].as_u64())
                    .filter_map(|n| u32::try_from(n).ok())
                    .collect(),
                workload_selector: Labels::new(),
            };
            let export_to: Vec<&str> = svc
                .annotation("networking.istio.io/exportTo")
                .map(|a| a.split(',').map(str::trim).collect())
                .unwrap_or_default();
            for scope in export_scopes(&svc.namespace, &export_to) {
                hosts.insert((scope, to_fqdn(&svc.namespace, &svc.name)), defined.clone());
            }
        }
        ServiceHosts { hosts }
    }

    /// The definition of `host` as config in `namespace`, exported to `export_to`,
    /// sees it; `None` when the host does not exist there.
    pub(crate) fn lookup(
        &self,
        namespace: &str,
        export_to: &[&str],
        host: &str,
    ) -> Option<&DefinedHost<'a>> {
        self.exact(namespace, export_to, host)
            .or_else(|| self.wildcard(namespace, host))
            .or_else(|| {
                let (name, ns) = service_alias(host)?;
                self.exact(namespace, export_to, &to_fqdn(ns, name))
            })
    }

    fn exact(&self, namespace: &str, export_to: &[&str], host: &str) -> Option<&DefinedHost<'a>> {
        let fqdn = to_fqdn(namespace, host);
        if let Some(found) = self.hosts.get(&(EXPORT_TO_ALL.to_string(), fqdn.clone())) {
            return Some(found);
        }
        if export_to.is_empty() {
            return self.hosts.get(&(namespace.to_string(), fqdn));
        }
        export_to.iter().find_map(|e| {
            let scope = if *e == EXPORT_TO_LOCAL { namespace } else { e };
            self.hosts.get(&(scope.to_string(), fqdn.clone()))
        })
    }

    fn wildcard(&self, namespace: &str, host: &str) -> Option<&DefinedHost<'a>> {
        let host = host.trim_start_matches('*');
        self.hosts.iter().find_map(|((scope, defined), found)| {
            let suffix = defined.strip_prefix('*')?;
            let visible = scope == EXPORT_TO_ALL || scope == namespace;
            (visible && host.ends_with(suffix)).then_some(found)
        })
    }
}

/// `name.namespace` or `name.namespace.svc`: the service it names, as mesh reads it.
fn service_alias(host: &str) -> Option<(&str, &str)> {
    let host = host.strip_suffix(".svc").unwrap_or(host);
    let (name, namespace) = host.split_once('.')?;
    (!name.is_empty()
        && !namespace.is_empty()
        && !namespace.contains('.')
        && !name.starts_with('*'))
    .then_some((name, namespace))
}

/// The `(namespace, name)` a host in config of `namespace` names, as Istio's subset
/// lookups key it: `name.ns.svc.cluster.local` (and, for mesh, `name.ns`,
/// `name.ns.svc` of an existing Service) names `ns/name`; anything else is taken as
/// written, in `namespace`.
pub(crate) fn host_resource_name(
    cx: &Context<'_>,
    namespace: &str,
    host: &str,
) -> (String, String) {
    let suffix = format!(".svc.{DOMAIN_SUFFIX}");
    if let Some(rest) = host.strip_suffix(&suffix)
        && let Some((name, ns)) = rest.rsplit_once('.')
        && !name.is_empty()
        && !ns.is_empty()
    {
        return (ns.to_string(), name.to_string());
    }
    if let Some((name, ns)) = service_alias(host)
        && cx.find(InputKind::Mesh(Kind::Service), ns, name).is_some()
    {
        return (ns.to_string(), name.to_string());
    }
    (namespace.to_string(), host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_scopes_and_fqdns() {
        assert_eq!(export_scopes("a", &[]), ["*"]);
        assert_eq!(export_scopes("a", &[".", "b", "*"]), ["*"]);
        assert_eq!(export_scopes("a", &[".", "b"]), ["a", "b"]);
        assert_eq!(to_fqdn("ns", "svc"), "svc.ns.svc.cluster.local");
        assert_eq!(to_fqdn("ns", "a.b"), "a.b");
        assert_eq!(to_fqdn("ns", "*"), "*");
        assert_eq!(
            service_alias("reviews.bookinfo"),
            Some(("reviews", "bookinfo"))
        );
        assert_eq!(
            service_alias("reviews.bookinfo.svc"),
            Some(("reviews", "bookinfo"))
        );
        assert_eq!(service_alias("www.example.com"), None);
    }
}
