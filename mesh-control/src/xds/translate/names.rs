//! Resource names, as Istio spells them, so that users can read them.

/// The listener every outbound connection is captured into (port 15001).
pub const VIRTUAL_OUTBOUND: &str = "virtualOutbound";
/// The listener every inbound connection is captured into (port 15006).
pub const VIRTUAL_INBOUND: &str = "virtualInbound";
/// Forwards outbound traffic to its original destination (ALLOW_ANY).
pub const PASSTHROUGH_CLUSTER: &str = "PassthroughCluster";
/// Drops traffic (REGISTRY_ONLY, unknown destinations).
pub const BLACK_HOLE_CLUSTER: &str = "BlackHoleCluster";
/// Forwards inbound traffic for ports no service declares to the local app.
pub const INBOUND_PASSTHROUGH_CLUSTER: &str = "InboundPassthroughCluster";

/// Port of `virtualOutbound`.
pub(crate) const VIRTUAL_OUTBOUND_PORT: u16 = 15001;
/// Port of `virtualInbound`.
pub(crate) const VIRTUAL_INBOUND_PORT: u16 = 15006;
/// Whether a service port collides with the proxy's own capture ports, which get no
/// outbound listener or route config (Envoy would reject the duplicate address).
pub(crate) fn is_capture_port(port: u16) -> bool {
    port == VIRTUAL_OUTBOUND_PORT || port == VIRTUAL_INBOUND_PORT
}

/// Source address of connections to the local app, which Istio's redirect rules
/// exempt from capture (so that they do not loop back into `virtualInbound`).
pub(crate) const INBOUND_PASSTHROUGH_BIND_IP: &str = "127.0.0.6";

/// Filter names, as registered in Envoy.
pub(crate) const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";
pub(crate) const TCP_PROXY: &str = "envoy.filters.network.tcp_proxy";
pub(crate) const ROUTER: &str = "envoy.filters.http.router";
pub(crate) const FAULT: &str = "envoy.filters.http.fault";
pub(crate) const CORS: &str = "envoy.filters.http.cors";
pub(crate) const ORIGINAL_DST: &str = "envoy.filters.listener.original_dst";
pub(crate) const HTTP_INSPECTOR: &str = "envoy.filters.listener.http_inspector";
pub(crate) const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";
pub(crate) const HTTP_PROTOCOL_OPTIONS: &str =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// `outbound|<port>|<subset>|<fqdn>`; the subset is empty for the whole service.
pub fn outbound_cluster_name(port: u16, subset: &str, hostname: &str) -> String {
    format!("outbound|{port}|{subset}|{hostname}")
}

/// `outbound_.<port>_.<subset>_.<fqdn>`: the SNI of Istio's mTLS to a cluster (Istio's
/// DNS SRV form of the cluster name: `outbound_.9080_._.<fqdn>` without a subset),
/// which gateways route on.
pub(crate) fn istio_mtls_sni(port: u16, subset: &str, hostname: &str) -> String {
    format!("outbound_.{port}_.{subset}_.{hostname}")
}

/// `inbound|<port>||`, the cluster of one of the local workload's ports.
pub fn inbound_cluster_name(port: u16) -> String {
    format!("inbound|{port}||")
}

/// `0.0.0.0_<port>`, the outbound listener of one port.
pub(crate) fn outbound_listener_name(port: u16) -> String {
    format!("0.0.0.0_{port}")
}

/// Name of a route config and of the outbound HTTP virtual host of a service port.
pub(crate) fn route_config_name(port: u16) -> String {
    port.to_string()
}

pub(crate) fn virtual_host_name(hostname: &str, port: u16) -> String {
    format!("{hostname}:{port}")
}
