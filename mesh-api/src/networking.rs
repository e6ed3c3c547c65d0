//! Istio's networking kinds, served as `networking.mesh.dev/v1alpha1`: VirtualService,
//! DestinationRule, ServiceEntry, Gateway, Sidecar and WorkloadEntry.
//!
//! Field names, types and enum values are Istio's (proven against Istio's published
//! CRD schemas by `tests/istio_schema_compat.rs`). Every optional scalar or message is
//! an `Option` and every list or map may be empty, so that a document reads and writes
//! back unchanged; unknown fields are errors.

mod connection_pool;
pub(crate) mod constraints;
mod destination;
mod destination_rule;
mod gateway;
mod http_policy;
mod http_rewrite;
mod load_balancer;
mod service_entry;
mod sidecar;
mod virtual_service;
mod workload_entry;

pub use connection_pool::{
    ConnectionPoolSettings, H2UpgradePolicy, Http2KeepAlive, HttpSettings, TcpKeepalive,
    TcpSettings,
};
pub use destination::{
    Destination, HeaderOperations, Headers, HttpRouteDestination, Percent, PortSelector,
    RouteDestination,
};
pub use destination_rule::{
    ClientTlsSettings, DestinationRule, DestinationRuleSpec, OutlierDetection, PortTrafficPolicy,
    ProxyProtocol, ProxyProtocolVersion, RetryBudget, Subset, TlsMode, TrafficPolicy,
    TunnelSettings,
};
pub use gateway::{
    Gateway, GatewaySpec, Port, Server, ServerTlsMode, ServerTlsSettings, TlsCertificate,
    TlsProtocol,
};
pub use http_policy::{
    Abort, CorsPolicy, Delay, HttpFaultInjection, HttpMirrorPolicy, HttpRetry, UnmatchedPreflights,
};
pub use http_rewrite::{
    HttpBody, HttpDirectResponse, HttpRedirect, HttpRewrite, RedirectPortSelection, RegexRewrite,
};
pub use load_balancer::{
    ConsistentHashLb, CookieAttribute, Distribute, Failover, HttpCookie, LoadBalancerSettings,
    LocalityLoadBalancerSetting, MagLev, RingHash, SimpleLb, WarmupConfiguration,
    ZoneAwareLbSetting,
};
pub use service_entry::{
    ServiceEntry, ServiceEntryLocation, ServiceEntryResolution, ServiceEntrySpec, ServicePort,
};
pub use sidecar::{
    CaptureMode, IstioEgressListener, IstioIngressListener, OutboundTrafficPolicy,
    OutboundTrafficPolicyMode, Sidecar, SidecarPort, SidecarSpec,
};
pub use virtual_service::{
    Delegate, HttpMatchRequest, HttpRoute, L4MatchAttributes, TcpRoute, TlsMatchAttributes,
    TlsRoute, VirtualService, VirtualServiceSpec,
};
pub use workload_entry::{WorkloadEntry, WorkloadEntrySpec};
