//! `Listener` protos → [`ListenerConfig`]: which listeners this proxy binds, and with
//! which HTTP connection manager.

use std::net::SocketAddr;

use envoy_types::pb::envoy::config::core::v3::{address, socket_address};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier, http_filter,
};
use prost::Message;
use serde::Serialize;

use crate::route::{RouteTable, build_route_table};

const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
/// HTTP filters this proxy runs: the router, and fault and CORS, which do nothing
/// unless a route configures them (and such routes are refused, see `route::build`).
const KNOWN_HTTP_FILTERS: &[&str] = &[
    "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
    "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
    "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors",
];

/// A listener as this proxy applies it.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerConfig {
    pub name: String,
    pub address: SocketAddr,
    pub role: ListenerRole,
}

/// Whether and how a listener is served.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ListenerRole {
    /// Bound on its address; HTTP through one connection manager.
    Http(HttpChain),
    /// Accepted but not served: reached through traffic capture (`virtualOutbound`,
    /// `virtualInbound`, `bind_to_port: false`), which comes with SO_ORIGINAL_DST.
    NotServed { reason: String },
}

/// The HTTP connection manager of a served listener.
#[derive(Debug, Clone, Serialize)]
pub struct HttpChain {
    pub stat_prefix: String,
    pub routes: RouteSource,
    pub use_remote_address: bool,
    pub normalize_path: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    Rds(String),
    #[serde(serialize_with = "inline_name")]
    Inline(std::sync::Arc<RouteTable>),
}

fn inline_name<S: serde::Serializer>(
    t: &std::sync::Arc<RouteTable>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.name)
}

/// Converts a listener; an error names the listener, the chain or filter, and why.
pub fn build_listener(l: &Listener) -> Result<ListenerConfig, String> {
    let address =
        listener_address(l).map_err(|e| format!("listener {:?}: address: {e}", l.name))?;
    let captured = l.use_original_dst.as_ref().is_some_and(|b| b.value)
        || l.listener_filters
            .iter()
            .any(|f| f.name == "envoy.filters.listener.original_dst");
    let role = if captured {
        ListenerRole::NotServed {
            reason:
                "original-destination capture listener: needs SO_ORIGINAL_DST (not yet implemented)"
                    .into(),
        }
    } else if l.bind_to_port.as_ref().is_some_and(|b| !b.value) {
        ListenerRole::NotServed {
            reason: "bind_to_port: false: reached only through virtualOutbound".into(),
        }
    } else {
        ListenerRole::Http(bound_http_chain(l).map_err(|e| format!("listener {:?}: {e}", l.name))?)
    };
    Ok(ListenerConfig {
        name: l.name.clone(),
        address,
        role,
    })
}

fn listener_address(l: &Listener) -> Result<SocketAddr, String> {
    let Some(address::Address::SocketAddress(sa)) =
        l.address.as_ref().and_then(|a| a.address.as_ref())
    else {
        return Err("only socket addresses are supported".into());
    };
    let Some(socket_address::PortSpecifier::PortValue(port)) = sa.port_specifier else {
        return Err("named ports are not supported".into());
    };
    let ip = sa
        .address
        .parse()
        .map_err(|e| format!("{:?}: {e}", sa.address))?;
    let port = u16::try_from(port).map_err(|_| format!("port {port} out of range"))?;
    Ok(SocketAddr::new(ip, port))
}

/// A bound listener must be one HTTP connection manager for every connection: TCP
/// proxying and filter chain matching come later.
fn bound_http_chain(l: &Listener) -> Result<HttpChain, String> {
    let chains: Vec<&FilterChain> = l
        .filter_chains
        .iter()
        .chain(l.default_filter_chain.iter())
        .collect();
    let [chain] = chains.as_slice() else {
        return Err(format!(
            "{} filter chains: a bound listener with more than one filter chain is not supported yet",
            chains.len()
        ));
    };
    if chain
        .filter_chain_match
        .as_ref()
        .is_some_and(|m| *m != Default::default())
    {
        return Err(format!(
            "filter chain {:?}: filter_chain_match is not supported yet",
            chain.name
        ));
    }
    if chain.transport_socket.is_some() {
        return Err(format!(
            "filter chain {:?}: transport_socket (TLS) is not supported yet",
            chain.name
        ));
    }
    let [filter] = chain.filters.as_slice() else {
        return Err(format!(
            "filter chain {:?}: exactly one network filter (the HTTP connection manager) is supported",
            chain.name
        ));
    };
    http_connection_manager(filter).map_err(|e| format!("filter chain {:?}: {e}", chain.name))
}

fn http_connection_manager(f: &Filter) -> Result<HttpChain, String> {
    let Some(filter::ConfigType::TypedConfig(any)) = &f.config_type else {
        return Err(format!("filter {:?}: typed_config missing", f.name));
    };
    if any.type_url != HCM {
        return Err(format!(
            "filter {:?}: type {} is not supported yet",
            f.name, any.type_url
        ));
    }
    let hcm = HttpConnectionManager::decode(any.value.as_slice())
        .map_err(|e| format!("filter {:?}: cannot decode: {e}", f.name))?;
    for hf in &hcm.http_filters {
        let type_url = match &hf.config_type {
            Some(http_filter::ConfigType::TypedConfig(a)) => a.type_url.as_str(),
            _ => "",
        };
        if !KNOWN_HTTP_FILTERS.contains(&type_url) {
            return Err(format!(
                "http filter {:?}: type {type_url:?} is not supported",
                hf.name
            ));
        }
    }
    if hcm
        .http_filters
        .last()
        .is_none_or(|hf| hf.name != "envoy.filters.http.router")
    {
        return Err("http_filters: the last filter must be envoy.filters.http.router".into());
    }
    let routes = match &hcm.route_specifier {
        Some(RouteSpecifier::Rds(rds)) => RouteSource::Rds(rds.route_config_name.clone()),
        Some(RouteSpecifier::RouteConfig(rc)) => RouteSource::Inline(std::sync::Arc::new(
            build_route_table(rc).map_err(|e| e.to_string())?,
        )),
        _ => return Err("route_specifier: only rds and route_config are supported".into()),
    };
    Ok(HttpChain {
        stat_prefix: hcm.stat_prefix,
        routes,
        use_remote_address: hcm.use_remote_address.is_some_and(|b| b.value),
        normalize_path: hcm.normalize_path.is_some_and(|b| b.value),
    })
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress};
    use envoy_types::pb::envoy::config::listener::v3::ListenerFilter;
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
        HttpFilter, Rds,
    };
    use envoy_types::pb::google::protobuf::{Any, BoolValue};

    use super::*;

    fn address(ip: &str, port: u32) -> Option<Address> {
        Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: ip.into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                ..Default::default()
            })),
        })
    }

    fn hcm(filter_type: &str) -> Filter {
        let hcm = HttpConnectionManager {
            stat_prefix: "outbound_0.0.0.0_8080".into(),
            route_specifier: Some(RouteSpecifier::Rds(Rds {
                route_config_name: "8080".into(),
                ..Default::default()
            })),
            http_filters: vec![HttpFilter {
                name: "envoy.filters.http.router".into(),
                config_type: Some(http_filter::ConfigType::TypedConfig(Any {
                    type_url: filter_type.into(),
                    value: vec![],
                })),
                ..Default::default()
            }],
            normalize_path: Some(BoolValue { value: true }),
            ..Default::default()
        };
        Filter {
            name: "envoy.filters.network.http_connection_manager".into(),
            config_type: Some(filter::ConfigType::TypedConfig(Any {
                type_url: HCM.into(),
                value: hcm.encode_to_vec(),
            })),
        }
    }

    fn bound(filter: Filter) -> Listener {
        Listener {
            name: "10.0.0.2_8080".into(),
            address: address("10.0.0.2", 8080),
            filter_chains: vec![FilterChain {
                filters: vec![filter],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_bound_egress_listener_serves_http_with_rds() {
        let l = build_listener(&bound(hcm(KNOWN_HTTP_FILTERS[0]))).expect("accepted");
        assert_eq!(l.address.to_string(), "10.0.0.2:8080");
        let ListenerRole::Http(chain) = l.role else {
            panic!("served")
        };
        assert!(matches!(chain.routes, RouteSource::Rds(ref n) if n == "8080"));
        assert!(chain.normalize_path && !chain.use_remote_address);
    }

    #[test]
    fn an_unknown_http_filter_is_refused_by_name() {
        let err = build_listener(&bound(hcm("type.googleapis.com/acme.Filter")))
            .expect_err("unknown filter");
        assert!(
            err.contains("10.0.0.2_8080") && err.contains("acme.Filter"),
            "{err}"
        );
    }

    #[test]
    fn capture_listeners_are_accepted_but_not_served() {
        let mut l = bound(hcm(KNOWN_HTTP_FILTERS[0]));
        l.name = "virtualInbound".into();
        l.listener_filters.push(ListenerFilter {
            name: "envoy.filters.listener.original_dst".into(),
            ..Default::default()
        });
        let l = build_listener(&l).expect("accepted");
        assert!(matches!(l.role, ListenerRole::NotServed { .. }));
    }
}
