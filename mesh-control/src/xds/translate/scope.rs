//! What one proxy sees of the mesh: its workload, the Sidecar that applies to it, the
//! services it may reach (exportTo, Sidecar egress hosts) and the routing config that
//! applies to them from its point of view.

use std::collections::BTreeMap;

use mesh_api::model::{MeshModel, MtlsPolicy, Service, Workload, hostname};
use mesh_api::networking::{
    CaptureMode, DestinationRule, IstioEgressListener, OutboundTrafficPolicyMode, Sidecar,
    VirtualService,
};
use mesh_api::object::{Kind, MeshObject, ObjectRef};

use crate::xds::node::ProxyNode;

/// The model as seen by one proxy.
#[derive(Debug)]
pub(crate) struct ProxyScope<'m> {
    pub(crate) model: &'m MeshModel,
    pub(crate) proxy: &'m ProxyNode,
    /// The proxy's own workload, when the model knows it.
    pub(crate) workload: Option<&'m Workload>,
    /// Labels used to match `sourceLabels` and workload selectors: the node's, else
    /// its workload's.
    pub(crate) labels: &'m BTreeMap<String, String>,
    sidecar: Option<(&'m ObjectRef, &'m Sidecar)>,
    /// Services the proxy may reach, in hostname order.
    services: Vec<&'m Service>,
}

impl<'m> ProxyScope<'m> {
    pub(crate) fn new(model: &'m MeshModel, proxy: &'m ProxyNode) -> Self {
        let mut scope = ProxyScope::inbound(model, proxy);
        scope.sidecar = find_sidecar(model, &proxy.namespace, scope.labels);
        scope.services = model
            .services
            .values()
            .filter(|s| exported_to(&s.export_to, &s.namespace, &proxy.namespace))
            .filter(|s| s.ports.iter().any(|p| scope.egress_allows(s, p.port)))
            .collect();
        scope
    }

    /// The scope with only the services `hostnames` of those it may reach: enough
    /// for their endpoints, without going through every service.
    pub(crate) fn for_services(
        model: &'m MeshModel,
        proxy: &'m ProxyNode,
        hostnames: &std::collections::BTreeSet<String>,
    ) -> Self {
        let mut scope = ProxyScope::inbound(model, proxy);
        scope.sidecar = find_sidecar(model, &proxy.namespace, scope.labels);
        scope.services = hostnames
            .iter()
            .filter_map(|h| model.services.get(h))
            .filter(|s| exported_to(&s.export_to, &s.namespace, &proxy.namespace))
            .filter(|s| s.ports.iter().any(|p| scope.egress_allows(s, p.port)))
            .collect();
        scope
    }

    /// The scope without the services: enough for the proxy's inbound side, without
    /// going through every service.
    pub(crate) fn inbound(model: &'m MeshModel, proxy: &'m ProxyNode) -> Self {
        let workload = find_workload(model, proxy).map(|(_, w)| w);
        let labels = match workload {
            Some(w) if proxy.labels.is_empty() => &w.labels,
            _ => &proxy.labels,
        };
        ProxyScope {
            model,
            proxy,
            workload,
            labels,
            sidecar: None,
            services: Vec::new(),
        }
    }

    /// The mutual TLS the proxy's workload accepts: from the policies the model
    /// attached to its WorkloadEntry, else from those that select its labels.
    pub(crate) fn mtls(&self) -> MtlsPolicy {
        match self.workload {
            Some(w) if self.proxy.labels.is_empty() => self.model.workload_mtls(w),
            _ => self.model.mtls_for(&self.proxy.namespace, self.labels),
        }
    }

    /// Services the proxy may reach, in hostname order.
    pub(crate) fn services(&self) -> &[&'m Service] {
        &self.services
    }

    /// Whether the proxy may reach `service` on `port`: the Sidecar's egress listeners
    /// (any listener without a port, or the one on this port) list the host.
    pub(crate) fn egress_allows(&self, service: &Service, port: u16) -> bool {
        let Some((sidecar_ref, sidecar)) = self.sidecar else {
            return true;
        };
        if sidecar.spec.egress.is_empty() {
            return true;
        }
        sidecar
            .spec
            .egress
            .iter()
            .filter(|l| {
                l.port
                    .as_ref()
                    .and_then(|p| p.number)
                    .is_none_or(|n| n == u32::from(port))
            })
            .flat_map(|l| &l.hosts)
            .any(|h| egress_host_matches(h, &sidecar_ref.namespace, service))
    }

    /// The Sidecar's egress listeners that the application connects to directly
    /// (`captureMode: NONE` or a `bind` address), as `(bind address, port, listener)`;
    /// Istio binds those to 127.0.0.1 unless told otherwise.
    pub(crate) fn bound_egress_listeners(&self) -> Vec<(String, u16, &'m IstioEgressListener)> {
        let Some((_, sidecar)) = self.sidecar else {
            return Vec::new();
        };
        sidecar
            .spec
            .egress
            .iter()
            .filter(|l| l.bind.is_some() || l.capture_mode == Some(CaptureMode::None))
            .filter_map(|l| {
                let port = u16::try_from(l.port.as_ref()?.number?).ok()?;
                let bind = l.bind.clone().unwrap_or_else(|| "127.0.0.1".to_string());
                // Unix domain sockets are not supported here.
                bind.parse::<std::net::IpAddr>().ok()?;
                Some((bind, port, l))
            })
            .collect()
    }

    /// Whether one egress listener's hosts list `service`.
    pub(crate) fn egress_listener_allows(
        &self,
        listener: &IstioEgressListener,
        service: &Service,
    ) -> bool {
        let ns = self.sidecar.map_or("", |(r, _)| r.namespace.as_str());
        listener
            .hosts
            .iter()
            .any(|h| egress_host_matches(h, ns, service))
    }

    /// ALLOW_ANY unless the Sidecar says REGISTRY_ONLY.
    pub(crate) fn allow_any(&self) -> bool {
        let mode = self
            .sidecar
            .and_then(|(_, s)| s.spec.outbound_traffic_policy.as_ref())
            .and_then(|p| p.mode)
            .unwrap_or(OutboundTrafficPolicyMode::ISTIO_DEFAULT);
        mode == OutboundTrafficPolicyMode::AllowAny
    }

    /// The VirtualService that routes `service` for this proxy: the first visible one,
    /// preferring one that names the host exactly over a wildcard (Istio's rule).
    pub(crate) fn virtual_service(
        &self,
        service: &Service,
    ) -> Option<(&'m ObjectRef, &'m VirtualService)> {
        let visible: Vec<(&'m ObjectRef, &'m VirtualService)> = service
            .policies
            .virtual_services
            .iter()
            .filter_map(|r| match self.model.objects.get_key_value(r) {
                Some((r, o)) => match o.as_ref() {
                    MeshObject::VirtualService(vs) => Some((r, vs.as_ref())),
                    _ => None,
                },
                None => None,
            })
            .filter(|(r, vs)| exported_to(&vs.spec.export_to, &r.namespace, &self.proxy.namespace))
            .collect();
        let exact = visible.iter().find(|(r, vs)| {
            vs.spec
                .hosts
                .iter()
                .any(|h| self.model.resolve_host(h, &r.namespace) == service.hostname)
        });
        exact.or(visible.first()).copied()
    }

    /// The DestinationRule that applies to traffic from this proxy to `service`: the
    /// proxy's namespace first, then the service's, then the root namespace; within
    /// one namespace an exact host before a wildcard (the model's order).
    pub(crate) fn destination_rule(
        &self,
        service: &Service,
    ) -> Option<(&'m ObjectRef, &'m DestinationRule)> {
        let root = &self.model.settings.root_namespace;
        let rank = |ns: &str| {
            if ns == self.proxy.namespace {
                0
            } else if ns == service.namespace {
                1
            } else if ns == root {
                2
            } else {
                3
            }
        };
        let mut visible: Vec<(&'m ObjectRef, &'m DestinationRule)> = service
            .policies
            .destination_rules
            .iter()
            .filter_map(|r| match self.model.objects.get_key_value(r) {
                Some((r, o)) => match o.as_ref() {
                    MeshObject::DestinationRule(dr) => Some((r, dr.as_ref())),
                    _ => None,
                },
                None => None,
            })
            .filter(|(r, dr)| exported_to(&dr.spec.export_to, &r.namespace, &self.proxy.namespace))
            .filter(|(r, dr)| match &dr.spec.workload_selector {
                Some(sel) => r.namespace == self.proxy.namespace && sel.selects(self.labels),
                None => true,
            })
            .collect();
        visible.sort_by_key(|(r, _)| rank(&r.namespace));
        visible.first().copied()
    }

    /// Whether a rule restricted by `sourceLabels` / `sourceNamespace` applies to
    /// traffic from this proxy (Istio filters such rules per proxy).
    pub(crate) fn is_source(
        &self,
        source_labels: &BTreeMap<String, String>,
        source_namespace: Option<&str>,
    ) -> bool {
        source_labels
            .iter()
            .all(|(k, v)| self.labels.get(k) == Some(v))
            && source_namespace.is_none_or(|ns| ns == self.proxy.namespace)
    }

    /// The service a route destination host (written in config of `namespace`) names.
    pub(crate) fn destination_service(&self, host: &str, namespace: &str) -> Option<&'m Service> {
        self.model.find_service(host, namespace)
    }
}

/// The reference of the proxy's workload, as [`find_workload`] finds it.
pub(crate) fn find_workload_ref(model: &MeshModel, proxy: &ProxyNode) -> Option<ObjectRef> {
    find_workload(model, proxy).map(|(r, _)| r.clone())
}

/// The proxy's workload: the WorkloadEntry, else the Pod, of its name in its
/// namespace; else the workload of its namespace with one of its IPs (Pods by IP
/// only while they run: a finished pod is no workload, its IP may be reused).
fn find_workload<'m>(
    model: &'m MeshModel,
    proxy: &ProxyNode,
) -> Option<(&'m ObjectRef, &'m Workload)> {
    let by_name = [Kind::WorkloadEntry, Kind::Pod]
        .into_iter()
        .find_map(|kind| {
            model.workloads.get_key_value(&ObjectRef {
                kind,
                namespace: proxy.namespace.clone(),
                name: proxy.workload_name.clone(),
            })
        });
    by_name.or_else(|| {
        model
            .workloads
            .iter()
            .find(|(_, w)| w.namespace == proxy.namespace && proxy.ips.contains(&w.address))
    })
}

/// Istio's choice of Sidecar: one in the proxy's namespace whose workloadSelector
/// matches, else the namespace's selector-less one, else the root namespace's.
fn find_sidecar<'m>(
    model: &'m MeshModel,
    namespace: &str,
    labels: &BTreeMap<String, String>,
) -> Option<(&'m ObjectRef, &'m Sidecar)> {
    let sidecars: Vec<(&'m ObjectRef, &'m Sidecar)> = model
        .objects
        .iter()
        .filter_map(|(r, o)| match o.as_ref() {
            MeshObject::Sidecar(s) => Some((r, s.as_ref())),
            _ => None,
        })
        .collect();
    let selecting = sidecars.iter().find(|(r, s)| {
        r.namespace == namespace
            && s.spec
                .workload_selector
                .as_ref()
                .is_some_and(|sel| !sel.labels.is_empty() && sel.selects(labels))
    });
    let namespace_wide = |ns: &str| {
        sidecars.iter().find(|(r, s)| {
            r.namespace == ns
                && s.spec
                    .workload_selector
                    .as_ref()
                    .is_none_or(|sel| sel.labels.is_empty())
        })
    };
    selecting
        .or_else(|| namespace_wide(namespace))
        .or_else(|| namespace_wide(&model.settings.root_namespace))
        .copied()
}

/// `exportTo` semantics: empty or `*` is everyone, `.` the owner's namespace, `~`
/// no one, anything else a namespace name.
pub(crate) fn exported_to(export_to: &[String], owner_namespace: &str, client: &str) -> bool {
    export_to.is_empty()
        || export_to.iter().any(|e| match e.as_str() {
            "*" => true,
            "." => owner_namespace == client,
            "~" => false,
            ns => ns == client,
        })
}

/// A Sidecar egress host `namespace/dnsName`: namespace `*` (any), `.` (the
/// Sidecar's), `~` (none) or a name; dnsName a host, `*` or `*.suffix`.
fn egress_host_matches(pattern: &str, sidecar_namespace: &str, service: &Service) -> bool {
    let (ns, host) = pattern.split_once('/').unwrap_or(("*", pattern));
    let ns_ok = match ns {
        "*" => true,
        "." => service.namespace == sidecar_namespace,
        "~" => false,
        other => service.namespace == other,
    };
    ns_ok && hostname::host_matches(host, &service.hostname)
}
