//! App probe rewriting. Under STRICT mTLS the kubelet's plaintext probes would be
//! refused by the inbound proxy, so HTTP, TCP and gRPC probes are sent to the proxy's
//! status port instead (`:15020/app-health/<container>/livez|readyz|startupz`) and
//! the proxy runs the original probe against the app from inside the pod. The
//! originals travel in `MESH_KUBE_APP_PROBERS`, in the JSON shape of Istio's
//! `ISTIO_KUBE_APP_PROBERS`. Exec probes need no network and are left alone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, GRPCAction, HTTPGetAction, PodSpec, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::{Deserialize, Serialize};

use super::{PROXY_CONTAINER, REDIRECT_CONTAINER};

/// The env variable the proxy reads the original probes from.
pub const APP_PROBERS_ENV: &str = "MESH_KUBE_APP_PROBERS";
/// The proxy's status port (Istio's 15020), where rewritten probes go.
pub const STATUS_PORT: u16 = 15020;

/// One original probe, by its `/app-health/...` path (Istio's `Prober`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppProber {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HTTPGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TCPSocketAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GRPCAction>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout_seconds: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// Rewrites the probes of every container but ours, and returns the originals as
/// `MESH_KUBE_APP_PROBERS` JSON (keys sorted, as Go's encoder writes a map), or
/// `None` when there was nothing to rewrite.
pub(super) fn rewrite(spec: &mut PodSpec) -> Option<String> {
    let mut probers = BTreeMap::new();
    let containers = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut());
    for c in containers.filter(|c| c.name != PROXY_CONTAINER && c.name != REDIRECT_CONTAINER) {
        let named_ports = named_ports(c);
        let name = c.name.clone();
        for (kind, probe) in [
            ("readyz", &mut c.readiness_probe),
            ("livez", &mut c.liveness_probe),
            ("startupz", &mut c.startup_probe),
        ] {
            let path = format!("/app-health/{name}/{kind}");
            if let Some(p) = probe.as_mut()
                && let Some(original) = take_over(p, &path, &named_ports)
            {
                probers.insert(path, original);
            }
        }
    }
    if probers.is_empty() {
        return None;
    }
    serde_json::to_string(&probers).ok()
}

/// Points `probe` at the status port and returns the original with its port
/// resolved to a number; `None` (probe untouched) for exec probes, probes already
/// at the status port, and named ports the container does not declare.
fn take_over(
    probe: &mut Probe,
    path: &str,
    named_ports: &BTreeMap<String, i32>,
) -> Option<AppProber> {
    let resolve = |port: &IntOrString| match port {
        IntOrString::Int(n) if *n == i32::from(STATUS_PORT) => None,
        IntOrString::Int(n) => Some(IntOrString::Int(*n)),
        IntOrString::String(name) => match name.parse::<i32>() {
            Ok(n) => Some(IntOrString::Int(n)),
            Err(_) => named_ports.get(name).map(|n| IntOrString::Int(*n)),
        },
    };
    let timeout_seconds = probe.timeout_seconds.unwrap_or(0);
    let original = if let Some(http) = &probe.http_get {
        let port = resolve(&http.port)?;
        AppProber {
            http_get: Some(HTTPGetAction {
                port,
                ..http.clone()
            }),
            timeout_seconds,
            ..AppProber::default()
        }
    } else if let Some(tcp) = &probe.tcp_socket {
        let port = resolve(&tcp.port)?;
        AppProber {
            tcp_socket: Some(TCPSocketAction {
                port,
                ..tcp.clone()
            }),
            timeout_seconds,
            ..AppProber::default()
        }
    } else if let Some(grpc) = &probe.grpc {
        if grpc.port == i32::from(STATUS_PORT) {
            return None;
        }
        AppProber {
            grpc: Some(grpc.clone()),
            timeout_seconds,
            ..AppProber::default()
        }
    } else {
        return None;
    };
    // Kubelet → HTTP → proxy → (HTTPS if the original was) → app.
    let mut http = probe.http_get.take().unwrap_or_default();
    http.path = Some(path.into());
    http.port = IntOrString::Int(i32::from(STATUS_PORT));
    if http.scheme.as_deref() == Some("HTTPS") {
        http.scheme = Some("HTTP".into());
    }
    probe.http_get = Some(http);
    probe.tcp_socket = None;
    probe.grpc = None;
    Some(original)
}

fn named_ports(c: &Container) -> BTreeMap<String, i32> {
    c.ports
        .iter()
        .flatten()
        .filter_map(|p| Some((p.name.clone()?, p.container_port)))
        .collect()
}
