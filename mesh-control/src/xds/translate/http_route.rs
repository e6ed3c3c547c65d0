//! VirtualService `http` rules as Envoy routes, in order (first match wins); a rule
//! with several matches becomes one route per match that applies to this proxy and
//! port.

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, RedirectAction, Route, RouteAction, WeightedCluster, redirect_action,
    route, route_action, weighted_cluster,
};
use envoy_types::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute;
use mesh_api::model::Service;
use mesh_api::networking::{HttpMatchRequest, HttpRedirect, HttpRoute, RedirectPortSelection};
use mesh_api::string_match::StringMatch;

use super::delegate;
use super::destination::destination_cluster;
use super::http_policy::{cors, fault, header_changes, mirror_fraction, retry_policy};
use super::names::{CORS, FAULT, outbound_cluster_name};
use super::proto::{any, duration, seconds, u32_value};
use super::route_match::{regex, route_match};
use super::scope::ProxyScope;
use super::tcp_routes::mesh_gateway;

/// The route of a service without a VirtualService (or whose VirtualService has no
/// rule for this proxy and port): everything to the service's cluster, with Istio's
/// default retries and no timeout.
pub(crate) fn default_route(scope: &ProxyScope<'_>, service: &Service, port: u16) -> Route {
    let rule = scope.destination_rule(service).map(|(_, dr)| dr);
    let hash_policy = super::traffic_policy::ClusterPolicy::new(rule, "", port).hash_policy();
    let consistent_hash = !hash_policy.is_empty();
    Route {
        name: "default".to_string(),
        r#match: Some(route_match(None)),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(
                outbound_cluster_name(port, "", &service.hostname),
            )),
            timeout: Some(seconds(0)),
            retry_policy: retry_policy(None, consistent_hash),
            hash_policy,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The routes of the VirtualService for `service` on `port`, or `None` when no
/// VirtualService has an HTTP rule for this proxy and port.
pub(crate) fn virtual_service_routes(
    scope: &ProxyScope<'_>,
    service: &Service,
    port: u16,
) -> Option<Vec<Route>> {
    let (vs_ref, vs) = scope.virtual_service(service)?;
    let mut routes = Vec::new();
    for flat in delegate::flatten(scope, &vs_ref.namespace, vs) {
        for m in flat
            .matches
            .iter()
            .filter(|m| m.as_ref().is_none_or(|m| applies(scope, m, port)))
        {
            if let Some(route) = http_route(scope, &flat.namespace, flat.rule, m.as_ref(), port) {
                routes.push(route);
            }
        }
    }
    (!routes.is_empty()).then_some(routes)
}

/// Whether a match is for this proxy and listener port (Istio decides `port`,
/// `sourceLabels`, `sourceNamespace` and `gateways` when it generates config).
fn applies(scope: &ProxyScope<'_>, m: &HttpMatchRequest, port: u16) -> bool {
    m.port.is_none_or(|p| p == u32::from(port))
        && mesh_gateway(&m.gateways)
        && scope.is_source(&m.source_labels, m.source_namespace.as_deref())
}

fn http_route(
    scope: &ProxyScope<'_>,
    namespace: &str,
    rule: &HttpRoute,
    m: Option<&HttpMatchRequest>,
    port: u16,
) -> Option<Route> {
    let mut name = rule.name.clone().unwrap_or_default();
    if let Some(match_name) = m.and_then(|m| m.name.as_deref()) {
        name = if name.is_empty() {
            match_name.to_string()
        } else {
            format!("{name}.{match_name}")
        };
    }
    let mut out = Route {
        name,
        r#match: Some(route_match(m)),
        stat_prefix: m.and_then(|m| m.stat_prefix.clone()).unwrap_or_default(),
        ..Default::default()
    };
    let rule_headers = rule.headers.as_ref();
    let request = header_changes(rule_headers.and_then(|h| h.request.as_ref()));
    let response = header_changes(rule_headers.and_then(|h| h.response.as_ref()));
    out.request_headers_to_add = request.to_add;
    out.request_headers_to_remove = request.to_remove;
    out.response_headers_to_add = response.to_add;
    out.response_headers_to_remove = response.to_remove;

    if let Some(redirect) = &rule.redirect {
        out.action = Some(route::Action::Redirect(redirect_action(redirect, m, port)));
    } else if let Some(direct) = &rule.direct_response {
        out.action = Some(route::Action::DirectResponse(DirectResponseAction {
            status: direct.status.unwrap_or(200),
            body: direct.body.as_ref().map(|b| DataSource {
                specifier: Some(match &b.string {
                    Some(text) => data_source::Specifier::InlineString(text.clone()),
                    None => data_source::Specifier::InlineBytes(b.to_bytes()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }));
    } else if !rule.route.is_empty() {
        let mut action = route_action(scope, namespace, rule, port, &mut out)?;
        if let Some(authority) = request.authority {
            action.host_rewrite_specifier = Some(
                route_action::HostRewriteSpecifier::HostRewriteLiteral(authority),
            );
        }
        out.action = Some(route::Action::Route(action));
    } else {
        // Nothing to do (delegating rules were replaced by their delegate's).
        return None;
    }
    if let Some(f) = rule.fault.as_ref().and_then(fault) {
        out.typed_per_filter_config
            .insert(FAULT.to_string(), any(&f));
    }
    if let Some(c) = &rule.cors_policy {
        out.typed_per_filter_config
            .insert(CORS.to_string(), any(&cors(c)));
    }
    Some(out)
}

/// Forwarding: cluster or weighted clusters, rewrite, timeout, retries, mirrors,
/// hash policy. Destination-level headers go on the weighted cluster, or on the
/// route when there is only one destination (as Istio does).
fn route_action(
    scope: &ProxyScope<'_>,
    namespace: &str,
    rule: &HttpRoute,
    port: u16,
    out: &mut Route,
) -> Option<RouteAction> {
    let weights = rule.route_weights();
    let destinations: Vec<_> = rule
        .route
        .iter()
        .zip(weights)
        .filter(|(_, w)| *w > 0)
        .filter_map(|(d, w)| {
            let cluster = destination_cluster(scope, d.destination.as_ref()?, namespace, port)?;
            Some((d, cluster, w))
        })
        .collect();
    let first = destinations.first()?;
    let hash_policy = first.1.hash_policy.clone();
    let mut action = RouteAction {
        timeout: Some(
            rule.timeout
                .as_ref()
                .map_or(seconds(0), |t| duration(t.as_std())),
        ),
        retry_policy: retry_policy(rule.retries.as_ref(), !hash_policy.is_empty()),
        hash_policy,
        ..Default::default()
    };
    if let [(d, cluster, _)] = destinations.as_slice() {
        action.cluster_specifier = Some(route_action::ClusterSpecifier::Cluster(
            cluster.name.clone(),
        ));
        let headers = d.headers.as_ref();
        let request = header_changes(headers.and_then(|h| h.request.as_ref()));
        let response = header_changes(headers.and_then(|h| h.response.as_ref()));
        out.request_headers_to_add.extend(request.to_add);
        out.request_headers_to_remove.extend(request.to_remove);
        out.response_headers_to_add.extend(response.to_add);
        out.response_headers_to_remove.extend(response.to_remove);
        if let Some(authority) = request.authority {
            action.host_rewrite_specifier = Some(
                route_action::HostRewriteSpecifier::HostRewriteLiteral(authority),
            );
        }
    } else {
        let clusters = destinations
            .iter()
            .map(|(d, cluster, w)| {
                let headers = d.headers.as_ref();
                let request = header_changes(headers.and_then(|h| h.request.as_ref()));
                let response = header_changes(headers.and_then(|h| h.response.as_ref()));
                weighted_cluster::ClusterWeight {
                    name: cluster.name.clone(),
                    weight: Some(u32_value(*w)),
                    request_headers_to_add: request.to_add,
                    request_headers_to_remove: request.to_remove,
                    response_headers_to_add: response.to_add,
                    response_headers_to_remove: response.to_remove,
                    host_rewrite_specifier: request.authority.map(
                        weighted_cluster::cluster_weight::HostRewriteSpecifier::HostRewriteLiteral,
                    ),
                    ..Default::default()
                }
            })
            .collect();
        action.cluster_specifier = Some(route_action::ClusterSpecifier::WeightedClusters(
            WeightedCluster {
                clusters,
                ..Default::default()
            },
        ));
    }
    if let Some(rewrite) = &rule.rewrite {
        if let Some(uri) = &rewrite.uri {
            action.prefix_rewrite = uri.clone();
        } else if let Some(rr) = &rewrite.uri_regex_rewrite {
            action.regex_rewrite = Some(RegexMatchAndSubstitute {
                pattern: Some(regex(rr.r#match.as_deref().unwrap_or(".*"))),
                substitution: rr.rewrite.clone().unwrap_or_default(),
            });
        }
        if let Some(authority) = &rewrite.authority {
            action.host_rewrite_specifier = Some(
                route_action::HostRewriteSpecifier::HostRewriteLiteral(authority.clone()),
            );
        }
    }
    action.request_mirror_policies = mirrors(scope, namespace, rule, port);
    Some(action)
}

/// `mirrors`, plus the deprecated `mirror` with `mirrorPercentage`/`mirrorPercent`.
fn mirrors(
    scope: &ProxyScope<'_>,
    namespace: &str,
    rule: &HttpRoute,
    port: u16,
) -> Vec<route_action::RequestMirrorPolicy> {
    let legacy = rule.mirror.as_ref().map(|d| {
        (
            d,
            mirror_fraction(
                rule.mirror_percentage.as_ref(),
                rule.effective_mirror_percent(),
            ),
        )
    });
    let listed = rule.mirrors.iter().filter_map(|m| {
        Some((
            m.destination.as_ref()?,
            mirror_fraction(m.percentage.as_ref(), None),
        ))
    });
    legacy
        .into_iter()
        .chain(listed)
        .filter_map(|(dest, fraction)| {
            Some(route_action::RequestMirrorPolicy {
                cluster: destination_cluster(scope, dest, namespace, port)?.name,
                runtime_fraction: Some(fraction),
                ..Default::default()
            })
        })
        .collect()
}

fn redirect_action(r: &HttpRedirect, m: Option<&HttpMatchRequest>, port: u16) -> RedirectAction {
    use redirect_action::RedirectResponseCode as Code;
    let response_code = match r.redirect_code_or_default() {
        302 => Code::Found,
        303 => Code::SeeOther,
        307 => Code::TemporaryRedirect,
        308 => Code::PermanentRedirect,
        _ => Code::MovedPermanently,
    };
    let mut out = RedirectAction {
        host_redirect: r.authority.clone().unwrap_or_default(),
        response_code: response_code as i32,
        ..Default::default()
    };
    if let Some(scheme) = &r.scheme {
        out.scheme_rewrite_specifier = Some(
            redirect_action::SchemeRewriteSpecifier::SchemeRedirect(scheme.clone()),
        );
    }
    // As Istio: Envoy cannot read the request's port, but the route config is the
    // listener port's, so FROM_REQUEST_PORT is that port; FROM_PROTOCOL_DEFAULT sets
    // none, and Envoy leaves the scheme's default.
    if let Some(p) = r.port {
        out.port_redirect = p;
    } else if r.derive_port == Some(RedirectPortSelection::FromRequestPort) {
        out.port_redirect = u32::from(port);
    }
    if let Some(uri) = &r.uri {
        out.path_rewrite_specifier = Some(redirect_action::PathRewriteSpecifier::PathRedirect(
            uri.clone(),
        ));
    } else if let Some(prefix) = &r.prefix_rewrite {
        // A prefix rewrite needs a prefix match to replace; with any other match it
        // replaces the whole path.
        let specifier = match m.and_then(|m| m.uri.as_ref()) {
            Some(StringMatch::Prefix(_)) | None => {
                redirect_action::PathRewriteSpecifier::PrefixRewrite(prefix.clone())
            }
            Some(_) => redirect_action::PathRewriteSpecifier::PathRedirect(prefix.clone()),
        };
        out.path_rewrite_specifier = Some(specifier);
    }
    out
}
