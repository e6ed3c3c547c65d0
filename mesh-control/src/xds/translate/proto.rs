//! Small constructors for the protobuf values every part of the translator needs.

use envoy_types::pb::envoy::config::core::v3::Address;
use envoy_types::pb::envoy::config::core::v3::{
    AggregatedConfigSource, ApiVersion, ConfigSource, SocketAddress, address, config_source,
    socket_address,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent};
use envoy_types::pb::google::protobuf::{Any, Duration, UInt32Value};
use prost::{Message, Name};

/// Packs a message into an `Any`, the form of every `typed_config`.
pub(crate) fn any<T: Message + Name>(message: &T) -> Any {
    Any {
        type_url: T::type_url(),
        value: message.encode_to_vec(),
    }
}

pub(crate) fn duration(d: std::time::Duration) -> Duration {
    Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Below 1e9, so it fits.
        nanos: d.subsec_nanos() as i32,
    }
}

pub(crate) fn seconds(s: i64) -> Duration {
    Duration {
        seconds: s,
        nanos: 0,
    }
}

pub(crate) fn u32_value(value: u32) -> UInt32Value {
    UInt32Value { value }
}

/// `ads: {}` with the v3 API: every dynamic resource comes over the ADS stream.
pub(crate) fn ads_config_source() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..ConfigSource::default()
    }
}

pub(crate) fn socket_address(ip: &str, port: u16) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(core_socket_address(
            ip, port,
        ))),
    }
}

pub(crate) fn core_socket_address(ip: &str, port: u16) -> SocketAddress {
    SocketAddress {
        address: ip.to_string(),
        port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(port))),
        ..SocketAddress::default()
    }
}

/// A CIDR range for an address (`10.0.0.1` → /32, `fd00::1` → /128, or `a.b.c.d/n`).
pub(crate) fn cidr_range(
    address: &str,
) -> Option<envoy_types::pb::envoy::config::core::v3::CidrRange> {
    let (ip, len) = match address.split_once('/') {
        Some((ip, len)) => (ip, Some(len.parse::<u32>().ok()?)),
        None => (address, None),
    };
    let parsed: std::net::IpAddr = ip.parse().ok()?;
    let full = if parsed.is_ipv4() { 32 } else { 128 };
    Some(envoy_types::pb::envoy::config::core::v3::CidrRange {
        address_prefix: ip.to_string(),
        prefix_len: Some(u32_value(len.unwrap_or(full).min(full))),
    })
}

/// A percentage (0–100, fractional) in millionths, the precision Istio uses.
pub(crate) fn fractional_percent(percent: f64) -> FractionalPercent {
    let clamped = percent.clamp(0.0, 100.0);
    FractionalPercent {
        numerator: (clamped * 10_000.0).round() as u32,
        denominator: fractional_percent::DenominatorType::Million as i32,
    }
}
