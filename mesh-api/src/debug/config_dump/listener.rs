//! Listener views: addresses, filter chains and what each chain's filters point at.

use serde::{Deserialize, Serialize};

/// A Listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerView {
    pub name: String,
    /// The resource's version (its hash).
    pub version: String,
    /// `0.0.0.0:15001`, `[::]:80`, `unix:///path`.
    pub address: Option<String>,
    pub use_original_dst: bool,
    /// Listener filter names.
    pub listener_filters: Vec<String>,
    pub filter_chains: Vec<FilterChainView>,
    pub default_filter_chain: Option<FilterChainView>,
    /// The whole Envoy message, in Rust Debug form.
    pub proto: String,
}

/// One filter chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterChainView {
    pub name: String,
    #[serde(rename = "match")]
    pub chain_match: FilterChainMatchView,
    pub filters: Vec<NetworkFilterView>,
}

/// `filter_chain_match`, only the fields that are set; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterChainMatchView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u32>,
    /// CIDRs, `10.0.0.0/8`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub application_protocols: Vec<String>,
}

/// One network filter, with what it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkFilterView {
    pub name: String,
    /// The RouteConfiguration an HTTP connection manager loads over RDS
    /// (`"<name> (inline)"` for an inline one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_config: Option<String>,
    /// The HTTP filters of an HTTP connection manager.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_filters: Vec<String>,
    /// The upstream cluster(s) of a TCP proxy (`"<name> (weight N)"` when weighted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<String>,
}

impl FilterChainMatchView {
    /// Whether the chain matches every connection.
    pub fn is_empty(&self) -> bool {
        self == &FilterChainMatchView::default()
    }
}
