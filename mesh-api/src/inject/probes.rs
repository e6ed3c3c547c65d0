//! App probe rewriting. Under STRICT mTLS the kubelet's plaintext probes would be
//! refused by the inbound proxy, so HTTP, TCP and gRPC probes are sent to the proxy's
//! status port instead (`:15020/app-health/<container>/livez|readyz|startupz`) and
//! the proxy runs the original probe against the app from inside the pod. The
//! originals travel in `MESH_KUBE_APP_PROBERS`, in the JSON shape of Istio's
//! `ISTIO_KUBE_APP_PROBERS`. HTTP and TCP lifecycle hooks go the same way
//! (`/app-lifecycle/<container>/prestopz|poststartz`). Exec probes need no network
//! and are left alone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, GRPCAction, HTTPGetAction, LifecycleHandler, PodSpec, Probe, TCPSocketAction,
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
            if let Some(p) = probe.as_mut() {
                let timeout = p.timeout_seconds.unwrap_or(0);
                if let Some(original) = take_over(Actions::probe(p), timeout, &path, &named_ports) {
                    probers.insert(path, original);
                }
            }
        }
        // Lifecycle hooks are called by the kubelet from outside the pod too.
        let Some(lifecycle) = c.lifecycle.as_mut() else {
            continue;
        };
        for (kind, handler) in [
            ("prestopz", &mut lifecycle.pre_stop),
            ("poststartz", &mut lifecycle.post_start),
        ] {
            let path = format!("/app-lifecycle/{name}/{kind}");
            if let Some(h) = handler.as_mut()
                && let Some(original) = take_over(Actions::handler(h), 0, &path, &named_ports)
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

/// The network actions of a probe or a lifecycle handler (which has no gRPC).
struct Actions<'a> {
    http_get: &'a mut Option<HTTPGetAction>,
    tcp_socket: &'a mut Option<TCPSocketAction>,
    grpc: Option<&'a mut Option<GRPCAction>>,
}

impl<'a> Actions<'a> {
    fn probe(p: &'a mut Probe) -> Self {
        Actions {
            http_get: &mut p.http_get,
            tcp_socket: &mut p.tcp_socket,
            grpc: Some(&mut p.grpc),
        }
    }

    fn handler(h: &'a mut LifecycleHandler) -> Self {
        Actions {
            http_get: &mut h.http_get,
            tcp_socket: &mut h.tcp_socket,
            grpc: None,
        }
    }
}

/// Points the action at the status port and returns the original with its port
/// resolved to a number; `None` (untouched) for exec and sleep, actions already at
/// the status port, and named ports the container does not declare.
fn take_over(
    actions: Actions<'_>,
    timeout_seconds: i32,
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
    let grpc = actions.grpc.as_ref().and_then(|g| g.as_ref());
    let original = if let Some(http) = actions.http_get.as_ref() {
        let port = resolve(&http.port)?;
        AppProber {
            http_get: Some(HTTPGetAction {
                port,
                ..http.clone()
            }),
            timeout_seconds,
            ..AppProber::default()
        }
    } else if let Some(tcp) = actions.tcp_socket.as_ref() {
        let port = resolve(&tcp.port)?;
        AppProber {
            tcp_socket: Some(TCPSocketAction {
                port,
                ..tcp.clone()
            }),
            timeout_seconds,
            ..AppProber::default()
        }
    } else if let Some(grpc) = grpc {
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
    let mut http = actions.http_get.take().unwrap_or_default();
    http.path = Some(path.into());
    http.port = IntOrString::Int(i32::from(STATUS_PORT));
    if http.scheme.as_deref() == Some("HTTPS") {
        http.scheme = Some("HTTP".into());
    }
    *actions.http_get = Some(http);
    *actions.tcp_socket = None;
    if let Some(grpc) = actions.grpc {
        *grpc = None;
    }
    Some(original)
}

fn named_ports(c: &Container) -> BTreeMap<String, i32> {
    c.ports
        .iter()
        .flatten()
        .filter_map(|p| Some((p.name.clone()?, p.container_port)))
        .collect()
}
