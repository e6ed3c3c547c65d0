//! RouteConfiguration views: virtual hosts, route matches and actions.

use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, redirect_action, route,
    route_action, route_match,
};
use mesh_api::debug::{
    ActionView, ClusterSpecifierView, DirectResponseActionView, PathMatchView, RedirectActionView,
    RetryPolicyView, RouteActionView, RouteConfigurationView, RouteMatchView, RouteView,
    VirtualHostView, WeightedClusterView,
};

use super::{data_source_text, duration_text};

pub(crate) fn route_configuration_view(
    rc: &RouteConfiguration,
    version: String,
) -> RouteConfigurationView {
    RouteConfigurationView {
        name: rc.name.clone(),
        version,
        virtual_hosts: rc.virtual_hosts.iter().map(virtual_host).collect(),
        proto: format!("{rc:?}"),
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
            Some(route::Action::Route(a)) => ActionView::Route(route_action(a)),
            Some(route::Action::Redirect(redirect)) => ActionView::Redirect(RedirectActionView {
                host: redirect.host_redirect.clone(),
                port: redirect.port_redirect,
                response_code: redirect.response_code,
                path: match &redirect.path_rewrite_specifier {
                    Some(redirect_action::PathRewriteSpecifier::PathRedirect(p)) => Some(p.clone()),
                    _ => None,
                },
            }),
            Some(route::Action::DirectResponse(d)) => {
                ActionView::DirectResponse(DirectResponseActionView {
                    status: d.status,
                    body: d.body.as_ref().map(data_source_text),
                })
            }
            other => ActionView::Other(format!("{other:?}")),
        },
    }
}

fn route_match_view(m: &RouteMatch) -> RouteMatchView {
    RouteMatchView {
        path: m.path_specifier.as_ref().map(|p| match p {
            route_match::PathSpecifier::Prefix(p) => PathMatchView::Prefix(p.clone()),
            route_match::PathSpecifier::Path(p) => PathMatchView::Path(p.clone()),
            route_match::PathSpecifier::SafeRegex(r) => PathMatchView::Regex(r.regex.clone()),
            route_match::PathSpecifier::PathSeparatedPrefix(p) => {
                PathMatchView::PathSeparatedPrefix(p.clone())
            }
            other => PathMatchView::Other(format!("{other:?}")),
        }),
        case_sensitive: m.case_sensitive.map(|cs| cs.value),
        headers: m
            .headers
            .iter()
            .map(|h| {
                let how = h
                    .header_match_specifier
                    .as_ref()
                    .map_or_else(|| "present".to_string(), |s| format!("{s:?}"));
                let not = if h.invert_match { "not " } else { "" };
                format!("{}: {not}{how}", h.name)
            })
            .collect(),
        query_parameters: m
            .query_parameters
            .iter()
            .map(|q| format!("{}: {:?}", q.name, q.query_parameter_match_specifier))
            .collect(),
        runtime_fraction: m
            .runtime_fraction
            .as_ref()
            .map(|f| format!("{:?}", f.default_value)),
    }
}

fn route_action(a: &RouteAction) -> RouteActionView {
    RouteActionView {
        cluster: a.cluster_specifier.as_ref().map(|c| match c {
            route_action::ClusterSpecifier::Cluster(c) => ClusterSpecifierView::Cluster(c.clone()),
            route_action::ClusterSpecifier::WeightedClusters(w) => {
                ClusterSpecifierView::WeightedClusters(
                    w.clusters
                        .iter()
                        .map(|c| WeightedClusterView {
                            name: c.name.clone(),
                            weight: c.weight.map(|w| w.value),
                        })
                        .collect(),
                )
            }
            other => ClusterSpecifierView::Other(format!("{other:?}")),
        }),
        timeout: a.timeout.as_ref().map(duration_text),
        prefix_rewrite: Some(a.prefix_rewrite.clone()).filter(|p| !p.is_empty()),
        host_rewrite: match &a.host_rewrite_specifier {
            Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(h)) => Some(h.clone()),
            _ => None,
        },
        retry_policy: a.retry_policy.as_ref().map(|r| RetryPolicyView {
            retry_on: r.retry_on.clone(),
            num_retries: r.num_retries.map(|n| n.value),
            per_try_timeout: r.per_try_timeout.as_ref().map(duration_text),
            retriable_status_codes: r.retriable_status_codes.clone(),
        }),
        mirrors: a
            .request_mirror_policies
            .iter()
            .map(|m| m.cluster.clone())
            .collect(),
        hash_policy: a
            .hash_policy
            .iter()
            .map(|h| format!("{:?}", h.policy_specifier))
            .collect(),
    }
}
