//! Inbound: `virtualInbound` on 15006 with a filter chain per port of the proxy's
//! workload, and the `inbound|<port>||` clusters that reach the local app.
//!
//! Inbound clusters are STATIC, to the workload's address and target port, with
//! connections bound to 127.0.0.6 as Istio's are (its redirect rules exempt that
//! source, so the proxy's own connection to the pod IP is not captured again). Istio
//! uses an ORIGINAL_DST cluster for the same effect; a STATIC one also works where
//! no redirect rules restore the original destination (tests on 127.0.0.0/8).

use std::collections::BTreeMap;
use std::net::IpAddr;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{BindConfig, TrafficDirection};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_api::model::Protocol;

use super::clusters::original_dst_cluster;
use super::endpoints::single_endpoint;
use super::filters::{
    PROTOCOL_DETECTION_TIMEOUT, RouteSource, TcpTarget, http_connection_manager, http_inspector,
    original_dst, tcp_proxy,
};
use super::listeners::{PortHandling, port_handling};
use super::names::{
    BLACK_HOLE_CLUSTER, INBOUND_PASSTHROUGH_BIND_IP, INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND,
    VIRTUAL_INBOUND_PORT, inbound_cluster_name,
};
use super::proto::{core_socket_address, duration, seconds, socket_address, u32_value};
use super::scope::ProxyScope;
use super::traffic_policy::{ClusterPolicy, UpstreamHttp};

/// Application protocols the HTTP inspector reports for plaintext HTTP.
const HTTP_PROTOCOLS: [&str; 3] = ["http/1.0", "http/1.1", "h2c"];

/// The ports the local app listens on (target ports of the workload's services) with
/// their protocol; the first service to declare a port decides its protocol.
fn workload_ports(scope: &ProxyScope<'_>) -> BTreeMap<u16, Protocol> {
    let mut out = BTreeMap::new();
    let Some(workload) = scope.workload else {
        return out;
    };
    for hostname in &workload.services {
        let Some(service) = scope.model.services.get(hostname) else {
            continue;
        };
        let Some(endpoint) = service.endpoints.iter().find(|e| {
            e.workload
                .as_ref()
                .is_some_and(|w| w.name == workload.name && w.namespace == workload.namespace)
        }) else {
            continue;
        };
        for port in &service.ports {
            if let Some(target) = endpoint.ports.get(&port.port) {
                out.entry(*target).or_insert(port.protocol);
            }
        }
    }
    out
}

pub(crate) fn virtual_inbound(scope: &ProxyScope<'_>) -> Listener {
    let ports = workload_ports(scope);
    let mut chains = vec![FilterChain {
        // Connections addressed to 15006 itself would loop through passthrough.
        name: "virtualInbound-blackhole".to_string(),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: Some(u32_value(u32::from(VIRTUAL_INBOUND_PORT))),
            ..Default::default()
        }),
        filters: vec![tcp_proxy(
            BLACK_HOLE_CLUSTER,
            TcpTarget::Cluster(BLACK_HOLE_CLUSTER.to_string()),
        )],
        ..Default::default()
    }];
    let mut sniffing = false;
    for (&port, &protocol) in &ports {
        if port == VIRTUAL_INBOUND_PORT {
            continue;
        }
        let cluster = inbound_cluster_name(port);
        let by_port = |application_protocols: Vec<String>| FilterChainMatch {
            destination_port: Some(u32_value(u32::from(port))),
            application_protocols,
            ..Default::default()
        };
        let http_chain = |chain_match| FilterChain {
            name: cluster.clone(),
            filter_chain_match: Some(chain_match),
            filters: vec![http_connection_manager(
                &format!("inbound_0.0.0.0_{port}"),
                RouteSource::Inline(Box::new(inbound_route_config(port))),
            )],
            ..Default::default()
        };
        let tcp_chain = |name: String| FilterChain {
            name,
            filter_chain_match: Some(by_port(Vec::new())),
            filters: vec![tcp_proxy(&cluster, TcpTarget::Cluster(cluster.clone()))],
            ..Default::default()
        };
        match port_handling(protocol) {
            Some(PortHandling::Http) => chains.push(http_chain(by_port(Vec::new()))),
            Some(PortHandling::Sniffed) => {
                sniffing = true;
                let protocols = HTTP_PROTOCOLS.iter().map(|p| p.to_string()).collect();
                chains.push(http_chain(by_port(protocols)));
                chains.push(tcp_chain(format!("{cluster}-tcp")));
            }
            Some(PortHandling::Tcp | PortHandling::Tls) => chains.push(tcp_chain(cluster.clone())),
            None => {}
        }
    }
    let mut listener_filters = vec![original_dst()];
    if sniffing {
        listener_filters.push(http_inspector());
    }
    Listener {
        name: VIRTUAL_INBOUND.to_string(),
        address: Some(socket_address("0.0.0.0", VIRTUAL_INBOUND_PORT)),
        filter_chains: chains,
        default_filter_chain: Some(FilterChain {
            name: "virtualInbound-catchall".to_string(),
            filters: vec![tcp_proxy(
                INBOUND_PASSTHROUGH_CLUSTER,
                TcpTarget::Cluster(INBOUND_PASSTHROUGH_CLUSTER.to_string()),
            )],
            ..Default::default()
        }),
        listener_filters,
        listener_filters_timeout: sniffing.then(|| duration(PROTOCOL_DETECTION_TIMEOUT)),
        continue_on_listener_filters_timeout: sniffing,
        traffic_direction: TrafficDirection::Inbound as i32,
        ..Default::default()
    }
}

/// Every request on an inbound HTTP port goes to the local app.
fn inbound_route_config(port: u16) -> RouteConfiguration {
    let cluster = inbound_cluster_name(port);
    RouteConfiguration {
        name: cluster.clone(),
        virtual_hosts: vec![VirtualHost {
            name: format!("inbound|http|{port}"),
            domains: vec!["*".to_string()],
            routes: vec![Route {
                name: "default".to_string(),
                r#match: Some(RouteMatch {
                    path_specifier: Some(route_match::PathSpecifier::Prefix("/".to_string())),
                    ..Default::default()
                }),
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster)),
                    // Istio: no timeout on inbound; the caller's sidecar enforces it.
                    timeout: Some(seconds(0)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        validate_clusters: Some(BoolValue { value: false }),
        ..Default::default()
    }
}

/// `inbound|<port>||` per workload port, and InboundPassthroughCluster.
pub(crate) fn inbound_clusters(scope: &ProxyScope<'_>) -> Vec<Cluster> {
    let mut out = vec![original_dst_cluster(
        INBOUND_PASSTHROUGH_CLUSTER,
        Some(INBOUND_PASSTHROUGH_BIND_IP),
    )];
    let app_ip = scope
        .workload
        .map(|w| w.address.as_str())
        .filter(|a| a.parse::<IpAddr>().is_ok())
        .unwrap_or("127.0.0.1");
    let loopback_bind = app_ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv4());
    for (port, protocol) in workload_ports(scope) {
        let name = inbound_cluster_name(port);
        let mut c = Cluster {
            name: name.clone(),
            cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
                cluster::DiscoveryType::Static as i32,
            )),
            load_assignment: Some(single_endpoint(&name, app_ip, port)),
            ..Default::default()
        };
        let http = match protocol {
            Protocol::Http => Some(UpstreamHttp::Http1),
            p if p.is_http() => Some(UpstreamHttp::Http2),
            _ => None,
        };
        ClusterPolicy::default().apply(&mut c, http);
        // LEAST_REQUEST over one endpoint is pointless; Istio uses ROUND_ROBIN here.
        c.lb_policy = cluster::LbPolicy::RoundRobin as i32;
        if loopback_bind {
            c.upstream_bind_config = Some(BindConfig {
                source_address: Some(core_socket_address(INBOUND_PASSTHROUGH_BIND_IP, 0)),
                ..Default::default()
            });
        }
        out.push(c);
    }
    out
}
