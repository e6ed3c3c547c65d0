//! `/debug/syncz` and `/debug/config_dump`: what each connected proxy was sent,
//! what it ACKed and what it rejected.

use std::time::{SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use mesh_api::debug::{
    AdsProtocol, DiscoveryService, DumpedResource, ProxyConfigDump, ProxySyncStatus,
    TypeSyncStatus, UndecodableResource,
};
use prost::Message;

use super::view;
use crate::xds::server::snapshot::Resources;
use crate::xds::server::{AdsProtocolKind, ProxyConnection, TypeStatus, XdsType};

/// One entry of `/debug/syncz`.
pub(crate) fn proxy_sync(c: &ProxyConnection) -> ProxySyncStatus {
    let status = c.status();
    ProxySyncStatus {
        proxy: c.node.id.clone(),
        name: c.node.short_name(),
        connection: c.id.clone(),
        connected_at: rfc3339(c.connected_at),
        protocol: ads_protocol(c.protocol),
        control_plane_version: env!("CARGO_PKG_VERSION").to_string(),
        config_version: status.config_version,
        types: XdsType::PUSH_ORDER
            .into_iter()
            .map(|ty| (discovery_service(ty), type_sync(status.get(ty))))
            .collect(),
    }
}

fn type_sync(t: &TypeStatus) -> TypeSyncStatus {
    TypeSyncStatus {
        state: t.state(),
        sent_version: t.sent_version.clone(),
        sent_nonce: t.sent_nonce.clone(),
        acked_version: t.acked_version.clone(),
        error: t.nack.as_ref().map(|n| n.error.clone()),
        nacked_at: t.nack.as_ref().map(|n| rfc3339(n.at)),
        resources: t.resources.len(),
    }
}

// The xDS server's own enums mapped to the wire's one by one, so that a new
// protocol or type fails to compile here instead of reaching meshctl unannounced.
// (Sync states are the wire's own type.)

fn ads_protocol(kind: AdsProtocolKind) -> AdsProtocol {
    match kind {
        AdsProtocolKind::Sotw => AdsProtocol::Sotw,
        AdsProtocolKind::Delta => AdsProtocol::Delta,
    }
}

fn discovery_service(ty: XdsType) -> DiscoveryService {
    match ty {
        XdsType::Cluster => DiscoveryService::Cds,
        XdsType::Endpoint => DiscoveryService::Eds,
        XdsType::Listener => DiscoveryService::Lds,
        XdsType::Route => DiscoveryService::Rds,
    }
}

/// The resources last sent to one connection, summarised and decoded.
pub(crate) fn config_dump(c: &ProxyConnection) -> ProxyConfigDump {
    let status = c.status();
    let sent = |ty: XdsType| &status.get(ty).resources;
    ProxyConfigDump {
        proxy: c.node.id.clone(),
        name: c.node.short_name(),
        connection: c.id.clone(),
        config_version: status.config_version,
        listeners: dumped(sent(XdsType::Listener), |body, version| {
            Listener::decode(body).map(|m| view::listener_view(&m, version))
        }),
        routes: dumped(sent(XdsType::Route), |body, version| {
            RouteConfiguration::decode(body).map(|m| view::route_configuration_view(&m, version))
        }),
        clusters: dumped(sent(XdsType::Cluster), |body, version| {
            Cluster::decode(body).map(|m| view::cluster_view(&m, version))
        }),
        endpoints: dumped(sent(XdsType::Endpoint), |body, version| {
            ClusterLoadAssignment::decode(body).map(|m| view::endpoints_view(&m, version))
        }),
    }
}

/// Each resource decoded into its view, or the decode error in its place.
fn dumped<V>(
    resources: &Resources,
    view: impl Fn(&[u8], String) -> Result<V, prost::DecodeError>,
) -> Vec<DumpedResource<V>> {
    resources
        .values()
        .map(|r| match view(r.body.as_slice(), r.version.clone()) {
            Ok(view) => DumpedResource::Decoded(view),
            Err(e) => DumpedResource::Undecodable(UndecodableResource {
                name: r.name.clone(),
                version: r.version.clone(),
                decode_error: e.to_string(),
            }),
        })
        .collect()
}

/// `2026-11-25T18:01:02Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil: exact for the proleptic Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_times_as_rfc3339_utc() {
        let at = |secs| rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_795_629_662), "2026-11-25T18:01:02Z");
    }
}
