//! Outbound listeners: `virtualOutbound` on 15001, which hands each captured
//! connection to the listener of its original destination port, and one listener
//! `0.0.0.0_<port>` per service port (not bound; reached through `virtualOutbound`).

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::google::protobuf::BoolValue;
use mesh_api::model::{Protocol, Service};
use prost::Message;

use super::filters::{
    PROTOCOL_DETECTION_TIMEOUT, RouteSource, TcpTarget, http_connection_manager, http_inspector,
    tcp_proxy, tls_inspector,
};
use super::names::{
    BLACK_HOLE_CLUSTER, PASSTHROUGH_CLUSTER, VIRTUAL_OUTBOUND, VIRTUAL_OUTBOUND_PORT,
    is_capture_port, outbound_cluster_name, outbound_listener_name, route_config_name,
};
use super::proto::{cidr_range, duration, socket_address, u32_value};
use super::scope::ProxyScope;
use super::tcp_routes::{tcp_target, tls_target};

/// Application protocols the HTTP inspector reports for plaintext HTTP.
const HTTP_PROTOCOLS: [&str; 3] = ["http/1.0", "http/1.1", "h2c"];

/// How a service port's traffic is handled on its listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortHandling {
    /// HTTP connection manager with the port's route config.
    Http,
    /// Protocol not declared: HTTP if the inspector sees HTTP, else TCP (Istio's
    /// protocol sniffing).
    Sniffed,
    /// TLS passed through, matched by SNI.
    Tls,
    /// Opaque TCP.
    Tcp,
}

pub(crate) fn port_handling(protocol: Protocol) -> Option<PortHandling> {
    Some(match protocol {
        p if p.is_http() => PortHandling::Http,
        Protocol::Unknown => PortHandling::Sniffed,
        Protocol::Https | Protocol::Tls => PortHandling::Tls,
        // Envoy's UDP proxying is not a sidecar feature; Istio skips UDP ports too.
        Protocol::Udp => return None,
        _ => PortHandling::Tcp,
    })
}

/// `virtualOutbound` and every `0.0.0.0_<port>` listener.
pub(crate) fn outbound_listeners(scope: &ProxyScope<'_>) -> Vec<Listener> {
    let mut by_port: BTreeMap<u16, Vec<(&Service, PortHandling)>> = BTreeMap::new();
    for service in scope.services() {
        for port in &service.ports {
            if !scope.egress_allows(service, port.port) || is_capture_port(port.port) {
                continue;
            }
            if let Some(handling) = port_handling(port.protocol) {
                by_port
                    .entry(port.port)
                    .or_default()
                    .push((service, handling));
            }
        }
    }
    let mut out = vec![virtual_outbound(scope)];
    // Listeners the app dials directly come first: with `bind: 0.0.0.0` one replaces
    // the unbound listener of its port (the first of two equal names is kept).
    for (bind, port, egress) in scope.bound_egress_listeners() {
        let services: Vec<(&Service, PortHandling)> = by_port
            .get(&port)
            .into_iter()
            .flatten()
            .filter(|(s, _)| scope.egress_listener_allows(egress, s))
            .copied()
            .collect();
        let mut l = port_listener(scope, port, &services, Destination::Bound);
        l.name = format!("{bind}_{port}");
        l.address = Some(socket_address(&bind, port));
        l.bind_to_port = None;
        out.push(l);
    }
    out.extend(
        by_port
            .into_iter()
            .map(|(port, services)| port_listener(scope, port, &services, Destination::Captured)),
    );
    out
}

/// The cluster unknown destinations go to: PassthroughCluster (ALLOW_ANY) or
/// BlackHoleCluster (REGISTRY_ONLY).
fn fallback_cluster(scope: &ProxyScope<'_>) -> &'static str {
    if scope.allow_any() {
        PASSTHROUGH_CLUSTER
    } else {
        BLACK_HOLE_CLUSTER
    }
}

fn virtual_outbound(scope: &ProxyScope<'_>) -> Listener {
    let fallback = fallback_cluster(scope);
    Listener {
        name: VIRTUAL_OUTBOUND.to_string(),
        address: Some(socket_address("0.0.0.0", VIRTUAL_OUTBOUND_PORT)),
        // Hands each connection to the listener of its original destination port.
        use_original_dst: Some(BoolValue { value: true }),
        filter_chains: vec![
            FilterChain {
                // A connection addressed to 15001 itself would loop through passthrough.
                name: "virtualOutbound-blackhole".to_string(),
                filter_chain_match: Some(FilterChainMatch {
                    destination_port: Some(u32_value(u32::from(VIRTUAL_OUTBOUND_PORT))),
                    ..Default::default()
                }),
                filters: vec![tcp_proxy(
                    BLACK_HOLE_CLUSTER,
                    TcpTarget::Cluster(BLACK_HOLE_CLUSTER.to_string()),
                )],
                ..Default::default()
            },
            FilterChain {
                name: "virtualOutbound-catchall-tcp".to_string(),
                filters: vec![tcp_proxy(
                    fallback,
                    TcpTarget::Cluster(fallback.to_string()),
                )],
                ..Default::default()
            },
        ],
        traffic_direction: TrafficDirection::Outbound as i32,
        ..Default::default()
    }
}

/// How connections reach a port listener, which decides what a chain can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destination {
    /// Captured traffic handed over by `virtualOutbound`: the original destination is
    /// the service's VIP, so chains match on it.
    Captured,
    /// An app dialling a bound Sidecar egress listener: the destination is the bind
    /// address, never a VIP, so (as Istio does when `bind` is set) chains have no
    /// destination match and the first service of the port takes the port.
    Bound,
}

/// The listener of one port: an HTTP chain (routes from RDS `<port>`) and/or TCP and
/// TLS chains matched on each service's VIP (and SNI), then a fallback.
fn port_listener(
    scope: &ProxyScope<'_>,
    port: u16,
    services: &[(&Service, PortHandling)],
    destination: Destination,
) -> Listener {
    let name = outbound_listener_name(port);
    let mut chains = FilterChains::default();
    let hcm = || {
        http_connection_manager(
            &format!("outbound_0.0.0.0_{port}"),
            RouteSource::Rds(route_config_name(port)),
        )
    };
    let has_http = services.iter().any(|(_, h)| *h == PortHandling::Http);
    let has_sniffed = services.iter().any(|(_, h)| *h == PortHandling::Sniffed);
    let has_tls = services.iter().any(|(_, h)| *h == PortHandling::Tls);
    if has_http {
        chains.push(name.clone(), FilterChainMatch::default(), hcm());
    }
    for (service, handling) in services {
        let cluster = outbound_cluster_name(port, "", &service.hostname);
        let vips: Vec<_> = match destination {
            Destination::Captured => service
                .addresses
                .iter()
                .filter_map(|a| cidr_range(a))
                .collect(),
            Destination::Bound => Vec::new(),
        };
        match handling {
            PortHandling::Http => {}
            PortHandling::Sniffed => {
                let http_match = FilterChainMatch {
                    prefix_ranges: vips.clone(),
                    application_protocols: HTTP_PROTOCOLS.iter().map(|p| p.to_string()).collect(),
                    ..Default::default()
                };
                chains.push(format!("{cluster}-http"), http_match, hcm());
                let tcp_match = FilterChainMatch {
                    prefix_ranges: vips,
                    ..Default::default()
                };
                let target = tcp_target(scope, service, port);
                chains.push(cluster.clone(), tcp_match, tcp_proxy(&cluster, target));
            }
            PortHandling::Tcp => {
                let tcp_match = FilterChainMatch {
                    prefix_ranges: vips,
                    ..Default::default()
                };
                let target = tcp_target(scope, service, port);
                chains.push(cluster.clone(), tcp_match, tcp_proxy(&cluster, target));
            }
            PortHandling::Tls => {
                let tls_match = FilterChainMatch {
                    prefix_ranges: vips,
                    server_names: if service.hostname.contains('*') || !service.addresses.is_empty()
                    {
                        Vec::new()
                    } else {
                        vec![service.hostname.clone()]
                    },
                    transport_protocol: "tls".to_string(),
                    ..Default::default()
                };
                let target = tls_target(scope, service, port);
                chains.push(cluster.clone(), tls_match, tcp_proxy(&cluster, target));
            }
        }
    }
    let mut listener_filters = Vec::new();
    if has_tls {
        listener_filters.push(tls_inspector());
    }
    if has_sniffed {
        listener_filters.push(http_inspector());
    }
    let fallback = fallback_cluster(scope);
    let default_filter_chain = (!chains.has_catch_all()).then(|| FilterChain {
        name: format!("{name}-passthrough"),
        filters: vec![tcp_proxy(
            fallback,
            TcpTarget::Cluster(fallback.to_string()),
        )],
        ..Default::default()
    });
    Listener {
        name,
        address: Some(socket_address("0.0.0.0", port)),
        bind_to_port: Some(BoolValue { value: false }),
        filter_chains: chains.chains,
        default_filter_chain,
        listener_filters,
        listener_filters_timeout: has_sniffed.then(|| duration(PROTOCOL_DETECTION_TIMEOUT)),
        continue_on_listener_filters_timeout: has_sniffed,
        traffic_direction: TrafficDirection::Outbound as i32,
        ..Default::default()
    }
}

/// Filter chains with distinct matches: Envoy rejects a listener with two chains
/// matching the same connections, so the first service to claim a match keeps it.
#[derive(Debug, Default)]
struct FilterChains {
    chains: Vec<FilterChain>,
    matches: BTreeSet<Vec<u8>>,
    names: BTreeSet<String>,
}

impl FilterChains {
    fn push(
        &mut self,
        name: String,
        chain_match: FilterChainMatch,
        filter: envoy_types::pb::envoy::config::listener::v3::Filter,
    ) {
        if !self.matches.insert(chain_match.encode_to_vec()) || !self.names.insert(name.clone()) {
            return;
        }
        self.chains.push(FilterChain {
            name,
            filter_chain_match: Some(chain_match),
            filters: vec![filter],
            ..Default::default()
        });
    }

    /// Whether some chain takes every connection (so no default chain is needed).
    fn has_catch_all(&self) -> bool {
        self.matches
            .contains(&FilterChainMatch::default().encode_to_vec())
    }
}
