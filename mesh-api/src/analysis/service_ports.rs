//! Port naming (Istio's `PortNameAnalyzer`): Istio takes a port's protocol from
//! `appProtocol` or a name `<protocol>[-<suffix>]`; other ports get protocol detection,
//! which users rarely mean. ExternalName Services get their own message: their `tcp`
//! ports too are forwarded as they cannot be.

use serde_json::Value;

use super::Context;
use super::codes;
use super::input::{InputKind, InputObject, items, scalar_string};
use super::message::Message;
use crate::object::Kind;

/// Ports whose protocol Istio assumes TCP without a name (SMTP, DNS, MySQL, MongoDB):
/// detection would break their server-first protocols.
const WELL_KNOWN_TCP_PORTS: [u64; 4] = [25, 53, 3306, 27017];

/// Protocols Istio's `protocol.Parse` knows, lower-case (it compares case-insensitively).
pub(crate) const PROTOCOLS: [&str; 12] = [
    "tcp",
    "udp",
    "grpc",
    "grpc-web",
    "http",
    "http_proxy",
    "http2",
    "https",
    "tls",
    "mongo",
    "redis",
    "mysql",
];

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for svc in cx.all(InputKind::Mesh(Kind::Service)) {
        if is_control_plane(svc) || is_gateway_managed(svc) {
            continue;
        }
        let external_name = svc.spec()["type"] == "ExternalName";
        for (i, port) in items(&svc.spec()["ports"]).iter().enumerate() {
            let name = port["name"].as_str().unwrap_or_default();
            let unsupported = protocol_unknown(port);
            if !(unsupported || (external_name && name == "tcp")) {
                continue;
            }
            let field = format!("spec.ports[{i}]");
            if external_name {
                out.push(cx.message(
                    codes::EXTERNAL_NAME_SERVICE_TYPE_INVALID_PORT_NAME,
                    svc,
                    field,
                    "Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly",
                    "name the port for its protocol (http-, https-, tls-, …); for plain TCP give the ExternalName service a ServiceEntry instead",
                ));
                continue;
            }
            let target = port["targetPort"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| port["targetPort"].as_u64().unwrap_or(0).to_string());
            out.push(cx.message(
                codes::PORT_NAME_IS_NOT_UNDER_NAMING_CONVENTION,
                svc,
                field,
                format!(
                    "Port name {name} (port: {}, targetPort: {target}) doesn't follow the naming convention of Istio port.",
                    port["port"].as_u64().unwrap_or(0)
                ),
                "name the port <protocol>[-<suffix>] (http, http2, grpc, tcp, tls, https, mongo, mysql, redis; e.g. http-web) or set appProtocol",
            ));
        }
    }
}

/// Istio's `ConvertProtocol`: whether neither appProtocol nor the name gives a protocol.
fn protocol_unknown(port: &Value) -> bool {
    if port["protocol"].as_str().is_some_and(|p| p == "UDP") {
        return false;
    }
    let name = match &port["appProtocol"] {
        Value::Null => port["name"].as_str().unwrap_or_default().to_string(),
        app => {
            let app = scalar_string(app).unwrap_or_default();
            if matches!(
                app.as_str(),
                "kubernetes.io/h2c" | "kubernetes.io/ws" | "kubernetes.io/wss"
            ) {
                return false;
            }
            app
        }
    };
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("grpc-web") {
        return false;
    }
    let prefix = lower.split('-').next().unwrap_or_default();
    if PROTOCOLS.contains(&prefix) {
        return false;
    }
    !port["port"]
        .as_u64()
        .is_some_and(|p| WELL_KNOWN_TCP_PORTS.contains(&p))
}

/// Istio's control plane Services (label `istio`, or `release: istio`) are its own.
pub(crate) fn is_control_plane(entry: &InputObject) -> bool {
    entry.label("istio").is_some() || entry.label("release") == Some("istio")
}

/// Services a gateway controller creates for Gateway API Gateways and waypoints.
fn is_gateway_managed(svc: &InputObject) -> bool {
    matches!(
        svc.label("gateway.istio.io/managed"),
        Some(
            "istio.io-gateway-controller"
                | "istio.io-mesh-controller"
                | "istio.io-eastwest-controller"
        )
    )
}

#[cfg(test)]
pub(crate) mod tests;
