//! `/debug/syncz` and `/debug/config_dump`: what each connected proxy was sent,
//! what it ACKed and what it rejected.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use prost::Message;
use serde::Serialize;
use serde_json::{Value, json};

use super::view::{ClusterView, EndpointsView, ListenerView, RouteConfigurationView};
use crate::xds::server::snapshot::Resources;
use crate::xds::server::{ProxyConnection, SyncState, TypeStatus, XdsType};

/// One entry of `/debug/syncz`.
#[derive(Debug, Serialize)]
pub(crate) struct ProxySync {
    proxy: String,
    name: String,
    connection: String,
    connected_at: String,
    protocol: crate::xds::server::AdsProtocolKind,
    control_plane_version: &'static str,
    config_version: u64,
    types: BTreeMap<&'static str, TypeSync>,
}

#[derive(Debug, Serialize)]
struct TypeSync {
    state: SyncState,
    sent_version: Option<String>,
    sent_nonce: Option<String>,
    acked_version: Option<String>,
    /// Envoy's error when the last response was NACKed.
    error: Option<String>,
    /// When that NACK came.
    #[serde(skip_serializing_if = "Option::is_none")]
    nacked_at: Option<String>,
    /// How many resources the last response carried (SotW) or the proxy holds (Delta).
    resources: usize,
}

impl ProxySync {
    pub(crate) fn new(c: &ProxyConnection) -> ProxySync {
        let status = c.status();
        ProxySync {
            proxy: c.node.id.clone(),
            name: c.node.short_name(),
            connection: c.id.clone(),
            connected_at: rfc3339(c.connected_at),
            protocol: c.protocol,
            control_plane_version: env!("CARGO_PKG_VERSION"),
            config_version: status.config_version,
            types: XdsType::PUSH_ORDER
                .into_iter()
                .map(|ty| (ty.short_name(), TypeSync::new(status.get(ty))))
                .collect(),
        }
    }
}

impl TypeSync {
    fn new(t: &TypeStatus) -> TypeSync {
        TypeSync {
            state: t.state(),
            sent_version: t.sent_version.clone(),
            sent_nonce: t.sent_nonce.clone(),
            acked_version: t.acked_version.clone(),
            error: t.nack.as_ref().map(|n| n.error.clone()),
            nacked_at: t.nack.as_ref().map(|n| rfc3339(n.at)),
            resources: t.resources.len(),
        }
    }
}

/// The resources last sent to one connection, summarised and decoded.
pub(crate) fn config_dump(c: &ProxyConnection) -> Value {
    let status = c.status();
    let views = |ty: XdsType| -> Vec<Value> {
        let resources: &Resources = &status.get(ty).resources;
        resources
            .values()
            .map(|r| {
                let body = r.body.as_slice();
                let view = match ty {
                    XdsType::Listener => {
                        Listener::decode(body).map(|m| json!(ListenerView::new(&m)))
                    }
                    XdsType::Route => RouteConfiguration::decode(body)
                        .map(|m| json!(RouteConfigurationView::new(&m))),
                    XdsType::Cluster => Cluster::decode(body).map(|m| json!(ClusterView::new(&m))),
                    XdsType::Endpoint => {
                        ClusterLoadAssignment::decode(body).map(|m| json!(EndpointsView::new(&m)))
                    }
                };
                let mut view =
                    view.unwrap_or_else(|e| json!({"name": r.name, "decode_error": e.to_string()}));
                view["version"] = r.version.clone().into();
                view
            })
            .collect()
    };
    json!({
        "proxy": c.node.id,
        "name": c.node.short_name(),
        "connection": c.id,
        "config_version": status.config_version,
        "listeners": views(XdsType::Listener),
        "routes": views(XdsType::Route),
        "clusters": views(XdsType::Cluster),
        "endpoints": views(XdsType::Endpoint),
    })
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
