//! Route tables: what a `RouteConfiguration` says, compiled for matching.
//!
//! [`build`] turns the protos into these plain types (refusing, with a precise
//! message, anything the proxy cannot do as Envoy does); [`matcher`] picks the virtual
//! host and the first matching route for a request, as Envoy's router does. Both are
//! pure: no sockets, no clocks.

use std::time::Duration;

use hyper::StatusCode;
use regex::Regex;

mod build;
mod cors;
mod fault;
mod header_ops;
mod matcher;
mod rewrite;
#[cfg(test)]
mod tests;

pub use build::{build_route_table, proto_duration};
pub use cors::{Cors, CorsOutcome};
pub(crate) use fault::build_fault;
pub use fault::{Abort, Fault, FaultDecision, Share};
pub use matcher::{RequestHead, pick_weighted};

/// Envoy's route timeout when a route sets none.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// One compiled `RouteConfiguration`.
#[derive(Debug, Clone)]
pub struct RouteTable {
    pub name: String,
    pub virtual_hosts: Vec<VirtualHost>,
}

/// A virtual host: the domains it serves and its routes, in order.
#[derive(Debug, Clone)]
pub struct VirtualHost {
    pub name: String,
    pub domains: Vec<String>,
    pub routes: Vec<Route>,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
}

/// One route: a match and what to do with a request that matches.
#[derive(Debug, Clone)]
pub struct Route {
    /// Shared with the records of the requests it routes.
    pub name: std::sync::Arc<str>,
    pub matcher: RouteMatch,
    pub action: RouteAction,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    /// `envoy.filters.http.fault` for this route.
    pub fault: Option<Fault>,
    /// `envoy.filters.http.cors` for this route.
    pub cors: Option<Cors>,
}

/// Envoy's `RouteMatch`: path, headers and query parameters must all match.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub path: PathMatch,
    pub case_sensitive: bool,
    pub headers: Vec<HeaderMatcher>,
    pub query_parameters: Vec<QueryParameterMatcher>,
}

/// The path specifier of a route (the path without its query).
#[derive(Debug, Clone)]
pub enum PathMatch {
    Prefix(String),
    Exact(String),
    Regex(Regex),
}

/// A header matcher (`:method`, `:authority`, `:scheme` and `:path` included).
#[derive(Debug, Clone)]
pub struct HeaderMatcher {
    pub name: String,
    pub kind: HeaderMatchKind,
    pub invert: bool,
    pub treat_missing_as_empty: bool,
}

#[derive(Debug, Clone)]
pub enum HeaderMatchKind {
    Present(bool),
    String(StringMatcher),
    Range { start: i64, end: i64 },
}

/// A query parameter matcher: present, or its first value matching.
#[derive(Debug, Clone)]
pub struct QueryParameterMatcher {
    pub name: String,
    pub value: Option<StringMatcher>,
}

/// Envoy's `StringMatcher`.
#[derive(Debug, Clone)]
pub enum StringMatcher {
    Exact { value: String, ignore_case: bool },
    Prefix { value: String, ignore_case: bool },
    Suffix { value: String, ignore_case: bool },
    Contains { value: String, ignore_case: bool },
    Regex(Regex),
}

/// What a matched route does.
#[derive(Debug, Clone)]
pub enum RouteAction {
    Forward(Box<Forward>),
    Redirect(Redirect),
    DirectResponse {
        status: StatusCode,
        body: Option<String>,
    },
}

/// Forward upstream (Envoy's `RouteAction`).
#[derive(Debug, Clone)]
pub struct Forward {
    pub clusters: ClusterSpecifier,
    /// For ring hash and maglev clusters (Istio's `consistentHash`).
    pub hash_policies: Vec<crate::balance::HashPolicy>,
    /// Clusters that get a copy of a share of the requests (fire and forget).
    pub mirrors: Vec<Mirror>,
    pub prefix_rewrite: Option<String>,
    pub regex_rewrite: Option<(Regex, String)>,
    pub host_rewrite: Option<String>,
    /// `None`: no timeout (Envoy's `0s`).
    pub timeout: Option<Duration>,
    pub retry_policy: Option<RetryPolicy>,
}

/// Envoy's `RequestMirrorPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mirror {
    pub cluster: String,
    pub share: Share,
    /// Whether the copy's Host gets `-shadow` (Envoy's default; Istio keeps it).
    pub shadow_host_suffix: bool,
}

#[derive(Debug, Clone)]
pub enum ClusterSpecifier {
    Cluster(String),
    Weighted(Vec<WeightedCluster>),
}

#[derive(Debug, Clone)]
pub struct WeightedCluster {
    pub name: String,
    pub weight: u32,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    pub host_rewrite: Option<String>,
}

/// Envoy's `RetryPolicy`, for the conditions this proxy implements.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub retry_on: RetryOn,
    pub num_retries: u32,
    pub per_try_timeout: Option<Duration>,
    pub retriable_status_codes: Vec<u16>,
    pub base_interval: Duration,
}

/// The `retry_on` conditions, parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryOn {
    pub server_error: bool,
    pub gateway_error: bool,
    pub connect_failure: bool,
    pub reset: bool,
    pub retriable_status_codes: bool,
    pub refused_stream: bool,
    pub grpc_unavailable: bool,
    pub grpc_cancelled: bool,
    pub grpc_deadline_exceeded: bool,
    pub grpc_resource_exhausted: bool,
    pub grpc_internal: bool,
    /// `retriable-4xx`: 409 Conflict.
    pub conflict: bool,
    /// `envoy-ratelimited`: a response carrying `x-envoy-ratelimited`.
    pub envoy_ratelimited: bool,
}

/// Envoy's `RedirectAction`.
#[derive(Debug, Clone, Default)]
pub struct Redirect {
    pub scheme: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub path: Option<String>,
    pub prefix_rewrite: Option<String>,
    pub strip_query: bool,
    pub status: u16,
}

/// Headers to add, set or remove (request or response side).
#[derive(Debug, Clone, Default)]
pub struct HeaderOps {
    pub add: Vec<HeaderAdd>,
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderAdd {
    pub name: String,
    pub value: String,
    pub action: AppendAction,
}

/// Envoy's `HeaderAppendAction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendAction {
    AppendIfExistsOrAdd,
    AddIfAbsent,
    OverwriteIfExistsOrAdd,
    OverwriteIfExists,
}
