//! Inbound: `virtualInbound` on 15006 with filter chains per port of the proxy's
//! workload (per the port's PeerAuthentication mode), and the `inbound|<port>||`
//! clusters that reach the local app.
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
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener,
};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_api::model::Protocol;

use super::clusters::original_dst_cluster;
use super::endpoints::single_endpoint;
use super::filters::{
    PROTOCOL_DETECTION_TIMEOUT, RouteSource, TcpTarget, http_inspector,
    inbound_http_connection_manager, original_dst, tcp_proxy, tls_inspector,
};
use super::inbound_chains::{ChainOption, InboundPort, chain_options};
use super::listeners::{PortHandling, port_handling};
use super::mtls::istio_downstream_tls;
use super::names::{
    BLACK_HOLE_CLUSTER, INBOUND_PASSTHROUGH_BIND_IP, INBOUND_PASSTHROUGH_CLUSTER, VIRTUAL_INBOUND,
    VIRTUAL_INBOUND_PORT, inbound_cluster_name,
};
use super::proto::{core_socket_address, duration, seconds, socket_address, u32_value};
use super::scope::ProxyScope;
use super::traffic_policy::{ClusterPolicy, UpstreamHttp};

/// Name of the passthrough chains (`-mtls`, `-tls` for their TLS variants).
const PASSTHROUGH_CHAIN: &str = "virtualInbound-catchall";

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

/// `virtualInbound`: a chain per workload port and mTLS variant (see
/// `inbound_chains.rs`), then the passthrough chains for ports no service declares,
/// built for the workload's mode (and per port for `portLevelMtls` on such ports).
/// No default chain: a connection that no chain takes (plain text to a STRICT port)
/// is closed. A proxy without an identity (no `SDS` in its node) gets no mTLS
/// chains: its PERMISSIVE ports take plain text only and its STRICT ports nothing.
pub(crate) fn virtual_inbound(scope: &ProxyScope<'_>) -> Listener {
    let ports = workload_ports(scope);
    let mtls = scope.mtls();
    let sds = scope.proxy.sds;
    let tls_inspected = mtls.any_tls();
    let options = |port: InboundPort, mode| {
        chain_options(port, mode, tls_inspected)
            .into_iter()
            .filter(move |o: &ChainOption| sds || !o.mtls)
    };
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
    for (&port, &protocol) in &ports {
        if port == VIRTUAL_INBOUND_PORT {
            continue;
        }
        let kind = match port_handling(protocol) {
            Some(PortHandling::Http) => InboundPort::Http,
            Some(PortHandling::Sniffed) => InboundPort::Sniffed,
            Some(PortHandling::Tcp | PortHandling::Tls) => InboundPort::Tcp,
            None => continue,
        };
        let cluster = inbound_cluster_name(port);
        for option in options(kind, mtls.port_mode(port)) {
            let filter = if option.http {
                inbound_http_connection_manager(
                    &format!("inbound_0.0.0.0_{port}"),
                    RouteSource::Inline(Box::new(inbound_route_config(port))),
                    option.mtls,
                )
            } else {
                tcp_proxy(&cluster, TcpTarget::Cluster(cluster.clone()))
            };
            chains.push(chain(&cluster, Some(port), &option, filter));
        }
    }
    // Passthrough: the workload's mode for every other port, or a port's own mode.
    let passthrough_ports = std::iter::once((None, mtls.mode)).chain(
        mtls.ports
            .iter()
            .filter(|(p, _)| !ports.contains_key(p) && **p != VIRTUAL_INBOUND_PORT)
            .map(|(p, mode)| (Some(*p), *mode)),
    );
    for (port, mode) in passthrough_ports {
        let name = match port {
            None => PASSTHROUGH_CHAIN.to_string(),
            Some(p) => format!("{PASSTHROUGH_CHAIN}-{p}"),
        };
        for option in options(InboundPort::Tcp, mode) {
            let filter = tcp_proxy(
                INBOUND_PASSTHROUGH_CLUSTER,
                TcpTarget::Cluster(INBOUND_PASSTHROUGH_CLUSTER.to_string()),
            );
            chains.push(chain(&name, port, &option, filter));
        }
    }
    let sniffing = chains.iter().any(|c| {
        c.filter_chain_match
            .as_ref()
            .is_some_and(|m| m.application_protocols.iter().any(|p| p == "http/1.1"))
    });
    let mut listener_filters = vec![original_dst()];
    // The TLS inspector first: the HTTP inspector skips connections it marked TLS.
    if tls_inspected {
        listener_filters.push(tls_inspector());
    }
    if sniffing {
        listener_filters.push(http_inspector());
    }
    // A client of a server-first protocol sends nothing to inspect: after the timeout
    // its connection is plain text (`raw_buffer`), refused where mTLS is required.
    let inspecting = tls_inspected || sniffing;
    Listener {
        name: VIRTUAL_INBOUND.to_string(),
        address: Some(socket_address("0.0.0.0", VIRTUAL_INBOUND_PORT)),
        filter_chains: chains,
        listener_filters,
        listener_filters_timeout: inspecting.then(|| duration(PROTOCOL_DETECTION_TIMEOUT)),
        continue_on_listener_filters_timeout: inspecting,
        traffic_direction: TrafficDirection::Inbound as i32,
        ..Default::default()
    }
}

/// The filter chain `name` + the option's suffix, on `port` (any, for passthrough).
fn chain(name: &str, port: Option<u16>, option: &ChainOption, filter: Filter) -> FilterChain {
    FilterChain {
        name: format!("{name}{}", option.suffix),
        filter_chain_match: Some(FilterChainMatch {
            destination_port: port.map(|p| u32_value(u32::from(p))),
            transport_protocol: option.transport_protocol.to_string(),
            application_protocols: option
                .application_protocols
                .iter()
                .map(|p| p.to_string())
                .collect(),
            ..Default::default()
        }),
        filters: vec![filter],
        transport_socket: option.mtls.then(|| istio_downstream_tls(option.http)),
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
