//! Outbound route configurations: one per HTTP port (named by the port), with one
//! virtual host per service (`<fqdn>:<port>`) carrying every name a client may use,
//! and Istio's `allow_any` (or `block_all`) virtual host for the rest.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, Route, RouteAction, RouteConfiguration, VirtualHost, route, route_action,
};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_api::model::{Service, ServiceOrigin, hostname};

use super::http_route::{default_route, virtual_service_routes};
use super::listeners::{PortHandling, port_handling};
use super::names::{
    BLACK_HOLE_CLUSTER, PASSTHROUGH_CLUSTER, is_capture_port, route_config_name, virtual_host_name,
};
use super::proto::{seconds, u32_value};
use super::scope::ProxyScope;

/// Route configs for every port with HTTP (or sniffed) services.
pub(crate) fn outbound_route_configs(scope: &ProxyScope<'_>) -> Vec<RouteConfiguration> {
    let mut by_port: BTreeMap<u16, Vec<&Service>> = BTreeMap::new();
    for service in scope.services() {
        for port in &service.ports {
            let http = matches!(
                port_handling(port.protocol),
                Some(PortHandling::Http | PortHandling::Sniffed)
            );
            if http && !is_capture_port(port.port) && scope.egress_allows(service, port.port) {
                by_port.entry(port.port).or_default().push(service);
            }
        }
    }
    by_port
        .into_iter()
        .map(|(port, services)| route_config(scope, port, &services))
        .collect()
}

fn route_config(scope: &ProxyScope<'_>, port: u16, services: &[&Service]) -> RouteConfiguration {
    // Envoy rejects a route config in which two virtual hosts share a domain; the
    // first service (in hostname order) to claim a domain keeps it.
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    let mut virtual_hosts = Vec::new();
    for service in services {
        let domains: Vec<String> = domains(scope, service, port)
            .into_iter()
            .filter(|d| claimed.insert(d.clone()))
            .collect();
        if domains.is_empty() {
            continue;
        }
        let routes = virtual_service_routes(scope, service, port)
            .unwrap_or_else(|| vec![default_route(scope, service, port)]);
        virtual_hosts.push(VirtualHost {
            name: virtual_host_name(&service.hostname, port),
            domains,
            routes,
            ..Default::default()
        });
    }
    virtual_hosts.push(fallback_virtual_host(scope));
    virtual_hosts.sort_by(|a, b| a.name.cmp(&b.name));
    let largest_body = largest_direct_response_body(&virtual_hosts);
    RouteConfiguration {
        name: route_config_name(port),
        virtual_hosts,
        // As Istio: a route to a cluster the proxy does not have answers 503; it does
        // not reject the whole route config.
        validate_clusters: Some(BoolValue { value: false }),
        // Envoy rejects direct response bodies over 4 KiB unless told the limit.
        max_direct_response_body_size_bytes: (largest_body > DEFAULT_MAX_DIRECT_RESPONSE_BODY)
            .then(|| u32_value(u32::try_from(largest_body).unwrap_or(u32::MAX))),
        ..Default::default()
    }
}

/// Envoy's default limit on direct response bodies.
const DEFAULT_MAX_DIRECT_RESPONSE_BODY: usize = 4096;

fn largest_direct_response_body(virtual_hosts: &[VirtualHost]) -> usize {
    virtual_hosts
        .iter()
        .flat_map(|v| &v.routes)
        .filter_map(|r| match &r.action {
            Some(route::Action::DirectResponse(d)) => d.body.as_ref(),
            _ => None,
        })
        .map(|body| match &body.specifier {
            Some(data_source::Specifier::InlineBytes(b)) => b.len(),
            Some(data_source::Specifier::InlineString(s)) => s.len(),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Every `Host` a client may send for `service` on `port`: short name (only for a
/// client in the service's namespace), `name.ns`, `name.ns.svc`, the FQDN, each with
/// and without `:port`, and the service addresses.
pub(crate) fn domains(scope: &ProxyScope<'_>, service: &Service, port: u16) -> Vec<String> {
    let mut names = Vec::new();
    let kubernetes_style = matches!(service.origin, ServiceOrigin::Kubernetes)
        || service.hostname == hostname::service_fqdn(&service.name, &service.namespace);
    if kubernetes_style {
        let aliases = hostname::service_aliases(&service.name, &service.namespace);
        let skip = usize::from(service.namespace != scope.proxy.namespace);
        names.extend(aliases.into_iter().skip(skip));
    } else {
        names.push(service.hostname.clone());
    }
    names.extend(
        service
            .addresses
            .iter()
            .filter(|a| !a.contains('/'))
            .cloned(),
    );
    let mut out = Vec::with_capacity(names.len() * 2);
    for name in names {
        out.push(format!("{name}:{port}"));
        out.push(name);
    }
    out
}

/// ALLOW_ANY: `allow_any` sends unknown hosts to their original destination;
/// REGISTRY_ONLY: `block_all` answers 502.
fn fallback_virtual_host(scope: &ProxyScope<'_>) -> VirtualHost {
    let action = if scope.allow_any() {
        route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                PASSTHROUGH_CLUSTER.to_string(),
            )),
            timeout: Some(seconds(0)),
            ..Default::default()
        })
    } else {
        route::Action::DirectResponse(DirectResponseAction {
            status: 502,
            body: Some(DataSource {
                specifier: Some(data_source::Specifier::InlineString(format!(
                    "no service in the registry matches this host ({BLACK_HOLE_CLUSTER})"
                ))),
                ..Default::default()
            }),
            ..Default::default()
        })
    };
    let name = if scope.allow_any() {
        "allow_any"
    } else {
        "block_all"
    };
    VirtualHost {
        name: name.to_string(),
        domains: vec!["*".to_string()],
        routes: vec![Route {
            name: name.to_string(),
            r#match: Some(super::route_match::route_match(None)),
            action: Some(action),
            ..Default::default()
        }],
        ..Default::default()
    }
}
