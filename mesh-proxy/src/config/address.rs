//! Envoy `Address`es as this proxy reads them: a socket address with a numeric port
//! (no pipes, no named ports, no internal addresses).

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::core::v3::{Address, address, socket_address};
use envoy_types::pb::envoy::config::endpoint::v3::{LbEndpoint, lb_endpoint};

use super::error::FieldError;

/// The host (an IP, or a name to resolve) and port of a socket address.
pub(super) fn host_and_port(a: Option<&Address>) -> Result<(&str, u16), FieldError> {
    let Some(address::Address::SocketAddress(sa)) = a.and_then(|a| a.address.as_ref()) else {
        return Err("only socket addresses are supported".into());
    };
    let Some(socket_address::PortSpecifier::PortValue(port)) = sa.port_specifier else {
        return Err("named ports are not supported".into());
    };
    let port = u16::try_from(port).map_err(|_| format!("port {port} out of range"))?;
    Ok((&sa.address, port))
}

/// A socket address whose host must be an IP.
pub(super) fn socket_addr(a: Option<&Address>) -> Result<SocketAddr, FieldError> {
    let (host, port) = host_and_port(a)?;
    let ip: IpAddr = host
        .parse()
        .map_err(|_| format!("{host:?} is not an IP address"))?;
    Ok(SocketAddr::new(ip, port))
}

/// The host and port of a load assignment's endpoint.
pub(super) fn endpoint_host_and_port(lb: &LbEndpoint) -> Result<(&str, u16), FieldError> {
    let Some(lb_endpoint::HostIdentifier::Endpoint(ep)) = &lb.host_identifier else {
        return Err("named endpoints are not supported".into());
    };
    host_and_port(ep.address.as_ref())
}
