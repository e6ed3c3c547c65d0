//! `Listener` protos → [`ListenerConfig`]: where a listener is reached (bound, or
//! only through `virtualOutbound`'s hand-off), what its listener filters detect, and
//! its filter chains.

use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::listener::v3::{FilterChain, Listener, listener_filter};
use serde::Serialize;

use super::address::socket_addr;
use super::error::{ConfigError, FieldError};
use super::filter_chain::{FilterChainMatch, build_filter_chain_match, check_distinct};
use super::network_filter::{NetworkFilter, build_network_filter};
use super::transport_socket::{TransportSocket, build_transport_socket};
use crate::route::proto_duration;

#[cfg(test)]
mod tests;

const ORIGINAL_DST: &str =
    "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst";
const TLS_INSPECTOR: &str =
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
const HTTP_INSPECTOR: &str =
    "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector";
/// Envoy's `listener_filters_timeout` when none is set.
const DEFAULT_LISTENER_FILTERS_TIMEOUT: Duration = Duration::from_secs(15);

/// A listener as this proxy applies it.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerConfig {
    pub name: String,
    pub address: SocketAddr,
    /// Bound on `address`; when false (`bind_to_port: false`) it is reached only by a
    /// `use_original_dst` listener's hand-off.
    pub bind_to_port: bool,
    /// Hands each connection to the listener of its original destination
    /// (`use_original_dst`, which also implies the original_dst listener filter).
    pub hand_off: bool,
    /// `traffic_direction: INBOUND`: the listeners a drain closes (Istio drains a
    /// terminating sidecar's inbound side only; the app may still call out).
    pub inbound: bool,
    pub listener_filters: ListenerFilters,
    pub filter_chains: Vec<FilterChainConfig>,
    pub default_filter_chain: Option<FilterChainConfig>,
}

/// What the listener filters do before a filter chain is chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ListenerFilters {
    /// `original_dst`: match chains on SO_ORIGINAL_DST, not on the local address.
    pub original_dst: bool,
    pub tls_inspector: bool,
    pub http_inspector: bool,
    /// How long the inspectors may wait for bytes; `None` without limit.
    pub timeout: Option<Duration>,
    /// On timeout, choose a chain with what was learnt (else close the connection).
    pub continue_on_timeout: bool,
}

/// One filter chain.
#[derive(Debug, Clone, Serialize)]
pub struct FilterChainConfig {
    pub name: String,
    pub matcher: FilterChainMatch,
    /// How the chain's connections are wrapped before the network filter: plaintext,
    /// or TLS terminated with these certificates and this peer validation.
    pub transport_socket: TransportSocket,
    pub filter: NetworkFilter,
}

impl ListenerConfig {
    /// The chains in order, for matching and for the data path.
    pub fn chain_matches(&self) -> Vec<&FilterChainMatch> {
        self.filter_chains.iter().map(|c| &c.matcher).collect()
    }
}

/// Converts a listener; an error names the listener, the chain or filter, and why.
pub fn build_listener(l: &Listener) -> Result<ListenerConfig, ConfigError> {
    listener(l).map_err(|e| e.of("listener", &l.name))
}

fn listener(l: &Listener) -> Result<ListenerConfig, FieldError> {
    let address = listener_address(l).map_err(|e| e.at("address"))?;
    refuse_unsupported(l)?;
    let hand_off = l.use_original_dst.as_ref().is_some_and(|b| b.value);
    let mut listener_filters = listener_filters(l)?;
    // Envoy adds the original_dst listener filter itself for use_original_dst.
    listener_filters.original_dst |= hand_off;
    let filter_chains = l
        .filter_chains
        .iter()
        .map(filter_chain)
        .collect::<Result<Vec<_>, _>>()?;
    let named: Vec<(&str, &FilterChainMatch)> = filter_chains
        .iter()
        .map(|c| (c.name.as_str(), &c.matcher))
        .collect();
    check_distinct(&named)?;
    let default_filter_chain = l
        .default_filter_chain
        .as_ref()
        .map(filter_chain)
        .transpose()?;
    if filter_chains.is_empty() && default_filter_chain.is_none() {
        return Err("no filter chains".into());
    }
    Ok(ListenerConfig {
        name: l.name.clone(),
        address,
        bind_to_port: l.bind_to_port.as_ref().is_none_or(|b| b.value),
        hand_off,
        inbound: l.traffic_direction
            == envoy_types::pb::envoy::config::core::v3::TrafficDirection::Inbound as i32,
        listener_filters,
        filter_chains,
        default_filter_chain,
    })
}

fn listener_address(l: &Listener) -> Result<SocketAddr, FieldError> {
    socket_addr(l.address.as_ref())
}

/// Listener fields that change which connections arrive or how they are handled.
fn refuse_unsupported(l: &Listener) -> Result<(), FieldError> {
    let unsupported = [
        ("additional_addresses", !l.additional_addresses.is_empty()),
        ("fcds_config", l.fcds_config.is_some()),
        ("filter_chain_matcher", l.filter_chain_matcher.is_some()),
        (
            "transparent",
            l.transparent.as_ref().is_some_and(|b| b.value),
        ),
        ("udp_listener_config", l.udp_listener_config.is_some()),
        ("api_listener", l.api_listener.is_some()),
        ("listener_specifier", l.listener_specifier.is_some()),
        ("enable_mptcp", l.enable_mptcp),
    ];
    match unsupported.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(format!("{field} is not supported yet").into()),
        None => Ok(()),
    }
}

fn listener_filters(l: &Listener) -> Result<ListenerFilters, FieldError> {
    let mut out = ListenerFilters {
        timeout: match &l.listener_filters_timeout {
            None => Some(DEFAULT_LISTENER_FILTERS_TIMEOUT),
            Some(d) => Some(proto_duration(d)).filter(|d| !d.is_zero()),
        },
        continue_on_timeout: l.continue_on_listener_filters_timeout,
        ..ListenerFilters::default()
    };
    for f in &l.listener_filters {
        let err = |e: &str| FieldError::new(e).at(format!("listener filter {:?}", f.name));
        if f.filter_disabled.is_some() {
            return Err(err("filter_disabled is not supported yet"));
        }
        let type_url = match &f.config_type {
            Some(listener_filter::ConfigType::TypedConfig(a)) => a.type_url.as_str(),
            _ => return Err(err("typed_config missing")),
        };
        match type_url {
            ORIGINAL_DST => out.original_dst = true,
            // JA3/JA4 fingerprints only feed logs and matchers this proxy refuses.
            TLS_INSPECTOR => out.tls_inspector = true,
            HTTP_INSPECTOR => out.http_inspector = true,
            other => return Err(err(&format!("type {other:?} is not supported"))),
        }
    }
    Ok(out)
}

fn filter_chain(c: &FilterChain) -> Result<FilterChainConfig, FieldError> {
    filter_chain_config(c).map_err(|e| e.at(format!("filter chain {:?}", c.name)))
}

fn filter_chain_config(c: &FilterChain) -> Result<FilterChainConfig, FieldError> {
    let transport_socket = build_transport_socket(c.transport_socket.as_ref(), true)?;
    transport_socket.check_servable()?;
    #[allow(deprecated)]
    let proxy_protocol = c.use_proxy_proto.as_ref().is_some_and(|b| b.value);
    if proxy_protocol {
        return Err("use_proxy_proto is not supported".into());
    }
    let matcher = c
        .filter_chain_match
        .as_ref()
        .map(build_filter_chain_match)
        .transpose()
        .map_err(|e| e.at("filter_chain_match"))?
        .unwrap_or_default();
    Ok(FilterChainConfig {
        name: c.name.clone(),
        matcher,
        transport_socket,
        filter: build_network_filter(&c.filters)?,
    })
}
