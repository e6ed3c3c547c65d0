//! VirtualService analyzers: referenced hosts, subsets and gateways exist; no rule is
//! hidden behind a catch-all; route weights add up.

use serde::Serialize;

use super::Context;
use super::message::{Message, codes};
use crate::model::hostname::host_matches;
use crate::networking::{Destination, VirtualService};
use crate::object::{Kind, MeshObject, ObjectRef};

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for (r, object) in cx.model.objects_of(Kind::VirtualService) {
        let MeshObject::VirtualService(vs) = object else {
            continue;
        };
        destinations(cx, r, vs, out);
        gateways(cx, r, vs, out);
        unreachable_rules(cx, r, vs, out);
        weights(cx, r, vs, out);
    }
}

/// Every destination of the VirtualService, with the field path that names it.
fn all_destinations(vs: &VirtualService) -> Vec<(String, &Destination)> {
    let mut found = Vec::new();
    for (i, http) in vs.spec.http.iter().enumerate() {
        for (j, route) in http.route.iter().enumerate() {
            if let Some(d) = &route.destination {
                found.push((format!("spec.http[{i}].route[{j}].destination"), d));
            }
        }
        if let Some(d) = &http.mirror {
            found.push((format!("spec.http[{i}].mirror"), d));
        }
        for (j, mirror) in http.mirrors.iter().enumerate() {
            if let Some(d) = &mirror.destination {
                found.push((format!("spec.http[{i}].mirrors[{j}].destination"), d));
            }
        }
    }
    for (i, tcp) in vs.spec.tcp.iter().enumerate() {
        for (j, route) in tcp.route.iter().enumerate() {
            if let Some(d) = &route.destination {
                found.push((format!("spec.tcp[{i}].route[{j}].destination"), d));
            }
        }
    }
    for (i, tls) in vs.spec.tls.iter().enumerate() {
        for (j, route) in tls.route.iter().enumerate() {
            if let Some(d) = &route.destination {
                found.push((format!("spec.tls[{i}].route[{j}].destination"), d));
            }
        }
    }
    found
}

fn destinations(cx: &Context<'_>, r: &ObjectRef, vs: &VirtualService, out: &mut Vec<Message>) {
    for (field, destination) in all_destinations(vs) {
        let Some(host) = destination.host.as_deref() else {
            continue;
        };
        let Some(service) = cx.model.find_service(host, &r.namespace) else {
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                r,
                format!("{field}.host"),
                format!("Referenced host not found: {host:?}"),
                format!(
                    "create a Service or ServiceEntry for {host:?}, or correct the host (short names are services in namespace {:?})",
                    r.namespace
                ),
            ));
            continue;
        };
        let Some(subset) = destination.subset.as_deref() else {
            continue;
        };
        if !subset_defined(cx, &service.hostname, subset) {
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                r,
                format!("{field}.subset"),
                format!("Referenced host+subset in destinationrule not found: \"{host}+{subset}\""),
                format!(
                    "define subset {subset:?} in a DestinationRule for host {:?}, or correct the subset name",
                    service.hostname
                ),
            ));
        }
    }
}

/// Whether any DestinationRule for `hostname` defines `subset`.
fn subset_defined(cx: &Context<'_>, hostname: &str, subset: &str) -> bool {
    cx.model.objects_of(Kind::DestinationRule).any(|(r, o)| {
        let MeshObject::DestinationRule(dr) = o else {
            return false;
        };
        let Some(host) = dr.spec.host.as_deref() else {
            return false;
        };
        let pattern = cx.model.resolve_host(host, &r.namespace);
        host_matches(&pattern, hostname)
            && dr
                .spec
                .subsets
                .iter()
                .any(|s| s.name.as_deref() == Some(subset))
    })
}

fn gateways(cx: &Context<'_>, r: &ObjectRef, vs: &VirtualService, out: &mut Vec<Message>) {
    let mut refs: Vec<(String, &str)> = vs
        .spec
        .gateways
        .iter()
        .enumerate()
        .map(|(i, g)| (format!("spec.gateways[{i}]"), g.as_str()))
        .collect();
    for (i, http) in vs.spec.http.iter().enumerate() {
        for (j, m) in http.r#match.iter().enumerate() {
            for (k, g) in m.gateways.iter().enumerate() {
                refs.push((format!("spec.http[{i}].match[{j}].gateways[{k}]"), g));
            }
        }
    }
    for (field, gateway) in refs {
        if gateway == crate::model::policies::MESH_GATEWAY {
            continue;
        }
        let (namespace, name) = gateway.split_once('/').unwrap_or((&r.namespace, gateway));
        let exists = cx
            .model
            .objects_of(Kind::Gateway)
            .any(|(g, _)| g.namespace == namespace && g.name == name);
        if !exists {
            out.push(cx.message(
                codes::REFERENCED_RESOURCE_NOT_FOUND,
                r,
                field,
                format!("Referenced gateway not found: {gateway:?}"),
                format!("create Gateway {namespace}/{name}, or name an existing one as <namespace>/<name>"),
            ));
        }
    }
}

/// Rules after a rule without matches never see traffic, and a match equal to an
/// earlier one never wins.
fn unreachable_rules(cx: &Context<'_>, r: &ObjectRef, vs: &VirtualService, out: &mut Vec<Message>) {
    let http: Vec<Vec<serde_json::Value>> = vs
        .spec
        .http
        .iter()
        .map(|route| route.r#match.iter().map(comparable).collect())
        .collect();
    let http_catch_all: Vec<bool> = vs
        .spec
        .http
        .iter()
        .map(|route| route.r#match.is_empty() || route.r#match.iter().any(is_catch_all_http_match))
        .collect();
    report_unreachable(cx, r, "http", &http, &http_catch_all, out);
    let tcp: Vec<Vec<serde_json::Value>> = vs
        .spec
        .tcp
        .iter()
        .map(|route| route.r#match.iter().map(comparable).collect())
        .collect();
    let tcp_catch_all: Vec<bool> = tcp.iter().map(Vec::is_empty).collect();
    report_unreachable(cx, r, "tcp", &tcp, &tcp_catch_all, out);
    let tls: Vec<Vec<serde_json::Value>> = vs
        .spec
        .tls
        .iter()
        .map(|route| route.r#match.iter().map(comparable).collect())
        .collect();
    let tls_catch_all: Vec<bool> = tls.iter().map(Vec::is_empty).collect();
    report_unreachable(cx, r, "tls", &tls, &tls_catch_all, out);
}

fn report_unreachable(
    cx: &Context<'_>,
    r: &ObjectRef,
    list: &str,
    matches: &[Vec<serde_json::Value>],
    catch_all: &[bool],
    out: &mut Vec<Message>,
) {
    let first_catch_all = catch_all.iter().position(|c| *c);
    for (i, rule) in matches.iter().enumerate() {
        if let Some(k) = first_catch_all.filter(|k| *k < i) {
            out.push(cx.message(
                codes::VIRTUAL_SERVICE_UNREACHABLE_RULE,
                r,
                format!("spec.{list}[{i}]"),
                format!("VirtualService rule #{i} not used (rule #{k} before it matches all traffic; only the last rule can have no matches)."),
                format!("move rule #{k} to the end of spec.{list}, or give it a match"),
            ));
            continue;
        }
        for (j, m) in rule.iter().enumerate() {
            let earlier = matches[..i]
                .iter()
                .enumerate()
                .find_map(|(k, prev)| prev.iter().position(|p| p == m).map(|l| (k, l)));
            if let Some((k, l)) = earlier {
                out.push(cx.message(
                    codes::VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
                    r,
                    format!("spec.{list}[{i}].match[{j}]"),
                    format!("VirtualService rule #{i} match #{j} is not used (duplicate/overlapping match in rule #{k} match #{l})."),
                    format!("remove the match, or make it differ from rule #{k} match #{l}"),
                ));
            }
        }
    }
}

/// A match as a value, without its `name`, which does not affect matching.
fn comparable<T: Serialize>(m: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        map.remove("name");
    }
    v
}

/// A match that only says `uri: {prefix: /}` (or regex `.*`) matches every request.
fn is_catch_all_http_match<T: Serialize>(m: &T) -> bool {
    let v = comparable(m);
    let Some(map) = v.as_object() else {
        return false;
    };
    if map.is_empty() {
        return true;
    }
    if map.len() != 1 {
        return false;
    }
    match map.get("uri").and_then(|u| u.as_object()) {
        Some(uri) => {
            uri.get("prefix").and_then(|p| p.as_str()) == Some("/")
                || matches!(uri.get("regex").and_then(|p| p.as_str()), Some(".*" | "*"))
        }
        None => false,
    }
}

fn weights(cx: &Context<'_>, r: &ObjectRef, vs: &VirtualService, out: &mut Vec<Message>) {
    let mut lists: Vec<(String, Vec<i64>)> = Vec::new();
    for (i, http) in vs.spec.http.iter().enumerate() {
        lists.push((
            format!("spec.http[{i}].route"),
            http.route
                .iter()
                .map(|d| i64::from(d.weight.unwrap_or(0)))
                .collect(),
        ));
    }
    for (i, tcp) in vs.spec.tcp.iter().enumerate() {
        lists.push((
            format!("spec.tcp[{i}].route"),
            tcp.route
                .iter()
                .map(|d| i64::from(d.weight.unwrap_or(0)))
                .collect(),
        ));
    }
    for (i, tls) in vs.spec.tls.iter().enumerate() {
        lists.push((
            format!("spec.tls[{i}].route"),
            tls.route
                .iter()
                .map(|d| i64::from(d.weight.unwrap_or(0)))
                .collect(),
        ));
    }
    for (field, weights) in lists {
        // A single destination takes all traffic whatever its weight says.
        if weights.len() < 2 {
            continue;
        }
        let total: i64 = weights.iter().sum();
        let shown = weights
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join("+");
        if total == 0 {
            out.push(cx.message(
                codes::ROUTE_WEIGHTS_ALL_ZERO,
                r,
                field,
                format!("route weights add up to 0 ({shown}): no destination can receive traffic"),
                "give at least one destination a positive weight (weights are percentages adding up to 100)",
            ));
        } else if total != 100 {
            out.push(cx.message(
                codes::ROUTE_WEIGHTS_DO_NOT_ADD_UP,
                r,
                field,
                format!("route weights add up to {total} ({shown}), not 100; traffic is split in proportion to them"),
                "make the weights add up to 100 so that each one reads as the percentage it gets",
            ));
        }
    }
}
