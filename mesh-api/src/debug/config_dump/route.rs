//! RouteConfiguration views: virtual hosts, route matches and actions.

use serde::{Deserialize, Serialize};

/// A RouteConfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConfigurationView {
    pub name: String,
    /// The resource's version (its hash).
    pub version: String,
    pub virtual_hosts: Vec<VirtualHostView>,
    /// The whole Envoy message, in Rust Debug form.
    pub proto: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualHostView {
    pub name: String,
    pub domains: Vec<String>,
    pub routes: Vec<RouteView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    pub name: String,
    #[serde(rename = "match")]
    pub route_match: RouteMatchView,
    pub action: ActionView,
}

/// A route's match, only the fields that are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMatchView {
    /// One key on the wire: `prefix`, `path`, `regex`, …
    #[serde(flatten)]
    pub path: Option<PathMatchView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    /// One string per header matcher, `name: <matcher>` (the matcher in Debug form).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// One string per query parameter matcher, `name: <matcher>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_parameters: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_fraction: Option<String>,
}

/// Envoy's `path_specifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatchView {
    Prefix(String),
    Path(String),
    /// The regex of a `safe_regex`.
    Regex(String),
    PathSeparatedPrefix(String),
    /// A specifier the view does not summarise, in Debug form.
    #[serde(rename = "path_specifier")]
    Other(String),
}

/// What a route does: Envoy's `Route.action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionView {
    Route(RouteActionView),
    Redirect(RedirectActionView),
    DirectResponse(DirectResponseActionView),
    /// An action the view does not summarise, in Debug form.
    Other(String),
}

/// Envoy's RouteAction: where the request goes and how; only the fields that are set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteActionView {
    /// One key on the wire: `cluster`, `weighted_clusters` or `cluster_specifier`.
    #[serde(flatten)]
    pub cluster: Option<ClusterSpecifierView>,
    /// `"15s"`; `"0s"` is no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_rewrite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rewrite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicyView>,
    /// The clusters requests are mirrored to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<String>,
    /// Each hash policy in Debug form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hash_policy: Vec<String>,
}

/// Envoy's `cluster_specifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterSpecifierView {
    Cluster(String),
    WeightedClusters(Vec<WeightedClusterView>),
    /// A specifier the view does not summarise, in Debug form.
    #[serde(rename = "cluster_specifier")]
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightedClusterView {
    pub name: String,
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicyView {
    pub retry_on: String,
    pub num_retries: Option<u32>,
    pub per_try_timeout: Option<String>,
    pub retriable_status_codes: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedirectActionView {
    pub host: String,
    pub port: u32,
    /// Envoy's `RedirectResponseCode` enum value (0 is 301).
    pub response_code: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectResponseActionView {
    pub status: u32,
    pub body: Option<String>,
}
