//! Envoy resources summarised into the views of `/debug/config_dump`
//! (`mesh_api::debug`): the fields a person debugging routing looks at first. Each
//! view also carries the full message as `proto` (its Debug form), since prost types
//! do not implement serde.

use envoy_types::pb::envoy::config::core::v3::{
    Address, DataSource, address, data_source, socket_address,
};
use envoy_types::pb::google::protobuf::Duration;

mod cluster;
mod listener;
mod route;

pub(crate) use cluster::{cluster_view, endpoints_view};
pub(crate) use listener::listener_view;
pub(crate) use route::route_configuration_view;

/// `10.0.0.1:8080`, `[fd00::1]:80`, `unix:///path`.
fn address_text(a: &Address) -> Option<String> {
    match a.address.as_ref()? {
        address::Address::SocketAddress(s) => {
            let port = match &s.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p.to_string(),
                Some(socket_address::PortSpecifier::NamedPort(n)) => n.clone(),
                None => "0".to_string(),
            };
            Some(if s.address.contains(':') {
                format!("[{}]:{port}", s.address)
            } else {
                format!("{}:{port}", s.address)
            })
        }
        address::Address::Pipe(p) => Some(format!("unix://{}", p.path)),
        address::Address::EnvoyInternalAddress(i) => Some(format!("internal:{i:?}")),
    }
}

fn data_source_text(d: &DataSource) -> String {
    match &d.specifier {
        Some(data_source::Specifier::InlineString(s)) => s.clone(),
        Some(data_source::Specifier::InlineBytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// `1.5s`, as Envoy's config dump writes durations.
fn duration_text(d: &Duration) -> String {
    if d.nanos == 0 {
        format!("{}s", d.seconds)
    } else {
        let text = format!("{}.{:09}", d.seconds, d.nanos);
        format!("{}s", text.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests;
