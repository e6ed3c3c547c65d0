//! RouteConfiguration views: virtual hosts, route matches and actions.

use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, redirect_action, route,
    route_action, route_match,
};
use serde::Serialize;

use super::{data_source_text, duration_text};

#[derive(Debug, Serialize)]
pub(crate) struct RouteConfigurationView {
    name: String,
    virtual_hosts: Vec<VirtualHostView>,
    proto: String,
}

#[derive(Debug, Serialize)]
struct VirtualHostView {
    name: String,
    domains: Vec<String>,
    routes: Vec<RouteView>,
}

#[derive(Debug, Serialize)]
struct RouteView {
    name: String,
    #[serde(rename = "match")]
    route_match: serde_json::Map<String, serde_json::Value>,
    action: serde_json::Value,
}

impl RouteConfigurationView {
    pub(crate) fn new(rc: &RouteConfiguration) -> RouteConfigurationView {
        RouteConfigurationView {
            name: rc.name.clone(),
            virtual_hosts: rc.virtual_hosts.iter().map(virtual_host).collect(),
            proto: format!("{rc:?}"),
        }
    }
}

fn virtual_host(vh: &VirtualHost) -> VirtualHostView {
    VirtualHostView {
        name: vh.name.clone(),
        domains: vh.domains.clone(),
        routes: vh.routes.iter().map(route_view).collect(),
    }
}

fn route_view(r: &Route) -> RouteView {
    RouteView {
        name: r.name.clone(),
        route_match: r.r#match.as_ref().map(route_match_view).unwrap_or_default(),
        action: match &r.action {
            Some(route::Action::Route(a)) => route_action(a),
            Some(route::Action::Redirect(redirect)) => {
                let mut v = serde_json::json!({"redirect": {
                    "host": redirect.host_redirect,
                    "port": redirect.port_redirect,
                    "response_code": redirect.response_code,
                }});
                if let Some(redirect_action::PathRewriteSpecifier::PathRedirect(p)) =
                    &redirect.path_rewrite_specifier
                {
                    v["redirect"]["path"] = p.clone().into();
                }
                v
            }
            Some(route::Action::DirectResponse(d)) => serde_json::json!({"direct_response": {
                "status": d.status,
                "body": d.body.as_ref().map(data_source_text),
            }}),
            other => serde_json::json!({"other": format!("{other:?}")}),
        },
    }
}

fn route_match_view(m: &RouteMatch) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    match &m.path_specifier {
        Some(route_match::PathSpecifier::Prefix(p)) => {
            out.insert("prefix".into(), p.clone().into())
        }
        Some(route_match::PathSpecifier::Path(p)) => out.insert("path".into(), p.clone().into()),
        Some(route_match::PathSpecifier::SafeRegex(r)) => {
            out.insert("regex".into(), r.regex.clone().into())
        }
        Some(route_match::PathSpecifier::PathSeparatedPrefix(p)) => {
            out.insert("path_separated_prefix".into(), p.clone().into())
        }
        Some(other) => out.insert("path_specifier".into(), format!("{other:?}").into()),
        None => None,
    };
    if let Some(cs) = m.case_sensitive {
        out.insert("case_sensitive".into(), cs.value.into());
    }
    if !m.headers.is_empty() {
        let headers = m.headers.iter().map(|h| {
            let how = h
                .header_match_specifier
                .as_ref()
                .map_or_else(|| "present".to_string(), |s| format!("{s:?}"));
            let not = if h.invert_match { "not " } else { "" };
            format!("{}: {not}{how}", h.name)
        });
        out.insert("headers".into(), headers.collect::<Vec<_>>().into());
    }
    if !m.query_parameters.is_empty() {
        let params = m
            .query_parameters
            .iter()
            .map(|q| format!("{}: {:?}", q.name, q.query_parameter_match_specifier));
        out.insert("query_parameters".into(), params.collect::<Vec<_>>().into());
    }
    if let Some(f) = &m.runtime_fraction {
        out.insert(
            "runtime_fraction".into(),
            format!("{:?}", f.default_value).into(),
        );
    }
    out
}

fn route_action(a: &RouteAction) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    match &a.cluster_specifier {
        Some(route_action::ClusterSpecifier::Cluster(c)) => {
            v.insert("cluster".into(), c.clone().into());
        }
        Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
            let clusters = w
                .clusters
                .iter()
                .map(|c| serde_json::json!({"name": c.name, "weight": c.weight.map(|w| w.value)}));
            v.insert(
                "weighted_clusters".into(),
                clusters.collect::<Vec<_>>().into(),
            );
        }
        Some(other) => {
            v.insert("cluster_specifier".into(), format!("{other:?}").into());
        }
        None => {}
    }
    if let Some(t) = &a.timeout {
        v.insert("timeout".into(), duration_text(t).into());
    }
    if !a.prefix_rewrite.is_empty() {
        v.insert("prefix_rewrite".into(), a.prefix_rewrite.clone().into());
    }
    if let Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(h)) =
        &a.host_rewrite_specifier
    {
        v.insert("host_rewrite".into(), h.clone().into());
    }
    if let Some(r) = &a.retry_policy {
        v.insert(
            "retry_policy".into(),
            serde_json::json!({
                "retry_on": r.retry_on,
                "num_retries": r.num_retries.map(|n| n.value),
                "per_try_timeout": r.per_try_timeout.as_ref().map(duration_text),
                "retriable_status_codes": r.retriable_status_codes,
            }),
        );
    }
    if !a.request_mirror_policies.is_empty() {
        let mirrors = a.request_mirror_policies.iter().map(|m| m.cluster.clone());
        v.insert("mirrors".into(), mirrors.collect::<Vec<_>>().into());
    }
    if !a.hash_policy.is_empty() {
        let policies = a
            .hash_policy
            .iter()
            .map(|h| format!("{:?}", h.policy_specifier));
        v.insert("hash_policy".into(), policies.collect::<Vec<_>>().into());
    }
    serde_json::json!({"route": v})
}
