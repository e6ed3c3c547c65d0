//! Rules and matches that never see traffic, as Istio's validation finds them: a rule
//! after one without matches, a match repeating an earlier one, a prefix match
//! covered by an earlier, shorter prefix with the same other conditions
//! (`/api/v1/product` before `/api/v1/products`), a rule all of whose matches repeat
//! earlier ones.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, InputObject, items};
use crate::analysis::message::Message;
use crate::object::Kind;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for vs in cx.all(InputKind::Mesh(Kind::VirtualService)) {
        for list in ["http", "tcp", "tls"] {
            let rules = items(&vs.spec()[list]);
            let mut report = Reporter { cx, vs, list, out };
            let first_seen = duplicates(rules, list == "http", &mut report);
            if list == "http" {
                overlapping_prefixes(rules, &first_seen, &mut report);
            }
        }
    }
}

struct Reporter<'a, 'c> {
    cx: &'a Context<'c>,
    vs: &'a InputObject,
    list: &'static str,
    out: &'a mut Vec<Message>,
}

impl Reporter<'_, '_> {
    fn unreachable(&mut self, rule: usize, name: &str, reason: &str) {
        self.out.push(self.cx.message(
            codes::VIRTUAL_SERVICE_UNREACHABLE_RULE,
            self.vs,
            format!("spec.{}[{rule}]", self.list),
            format!("VirtualService rule {name} not used ({reason})."),
            "remove the rule, or move it before the rules that take its traffic",
        ));
    }

    fn ineffective(
        &mut self,
        rule: usize,
        matchno: usize,
        name: &str,
        match_name: &str,
        earlier: &str,
    ) {
        self.out.push(self.cx.message(
            codes::VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
            self.vs,
            format!("spec.{}[{rule}].match[{matchno}]", self.list),
            format!("VirtualService rule {name} match {match_name} is not used (duplicate/overlapping match in rule {earlier})."),
            "remove the match, or move it before the match that covers it",
        ));
    }
}

/// Istio's name of a rule: its `name` quoted (http rules), else `#index`.
fn rule_name(rule: &Value, index: usize, named: bool) -> String {
    match rule["name"].as_str().filter(|n| named && !n.is_empty()) {
        Some(name) => format!("{name:?}"),
        None => format!("#{index}"),
    }
}

/// Reports rules after a catch-all and repeated matches; returns the matches that are
/// neither, as (rule, match) indices.
fn duplicates(rules: &[Value], named: bool, report: &mut Reporter<'_, '_>) -> Vec<(usize, usize)> {
    let mut first_seen = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut catch_all: Option<usize> = None;
    for (i, rule) in rules.iter().enumerate() {
        let name = rule_name(rule, i, named);
        let matches = items(&rule["match"]);
        if matches.is_empty() {
            if catch_all.is_some() {
                report.unreachable(i, &name, "only the last rule can have no matches");
            }
            catch_all = Some(i);
            continue;
        }
        let mut repeated = 0;
        for (j, m) in matches.iter().enumerate() {
            if catch_all.is_some() {
                report.unreachable(i, &name, "route without matches defined before");
                continue;
            }
            let key = comparable(m);
            match seen.get(&key) {
                Some(k) => {
                    let earlier = rule_name(&rules[*k], *k, named);
                    report.ineffective(i, j, &name, &rule_name(m, j, named), &earlier);
                    repeated += 1;
                }
                None => {
                    seen.insert(key, i);
                    first_seen.push((i, j));
                }
            }
        }
        if repeated == matches.len() {
            report.unreachable(i, &name, "all matches used by prior rules");
        }
    }
    first_seen
}

/// A match without its `name` and without unset or default values, as text.
fn comparable(m: &Value) -> String {
    fn prune(v: &Value) -> Option<Value> {
        match v {
            Value::Null | Value::Bool(false) => None,
            Value::String(s) if s.is_empty() => None,
            Value::Array(a) if a.is_empty() => None,
            Value::Object(o) => {
                let kept: serde_json::Map<String, Value> = o
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), prune(v)?)))
                    .collect();
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            Value::Array(a) => Some(Value::Array(
                a.iter().map(|v| prune(v).unwrap_or(Value::Null)).collect(),
            )),
            other => Some(other.clone()),
        }
    }
    let mut m = m.clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("name");
    }
    prune(&m).map(|v| v.to_string()).unwrap_or_default()
}

/// One prefix match with the conditions Istio compares for overlaps.
struct PrefixMatch {
    rule: usize,
    matchno: usize,
    rule_name: String,
    match_name: String,
    prefix: String,
    port: u64,
    method: String,
    authority: String,
    headers: BTreeMap<String, String>,
    query_params: BTreeMap<String, String>,
    without_headers: BTreeMap<String, String>,
}

/// `exact:v` or `prefix:v` of a string match (empty for regex or none).
fn exact_or_prefix(m: &Value) -> String {
    if let Some(v) = m["exact"].as_str().filter(|v| !v.is_empty()) {
        format!("exact:{v}")
    } else if let Some(v) = m["prefix"].as_str().filter(|v| !v.is_empty()) {
        format!("prefix:{v}")
    } else {
        String::new()
    }
}

fn conditions(map: &Value) -> BTreeMap<String, String> {
    map.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), exact_or_prefix(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn overlapping_prefixes(
    rules: &[Value],
    first_seen: &[(usize, usize)],
    report: &mut Reporter<'_, '_>,
) {
    let mut prefixes: Vec<PrefixMatch> = Vec::new();
    for &(i, j) in first_seen {
        let rule = &rules[i];
        let m = &items(&rule["match"])[j];
        let Some(prefix) = m["uri"]["prefix"].as_str().filter(|p| !p.is_empty()) else {
            continue;
        };
        let method = match exact_or_prefix(&m["method"]) {
            // Istio compares prefix matches as GET requests when no method is given.
            m if m.is_empty() => "exact:GET".to_string(),
            m => m,
        };
        prefixes.push(PrefixMatch {
            rule: i,
            matchno: j,
            rule_name: rule_name(rule, i, true),
            match_name: rule_name(m, j, true),
            prefix: prefix.to_string(),
            port: m["port"].as_u64().unwrap_or(0),
            method,
            authority: exact_or_prefix(&m["authority"]),
            headers: conditions(&m["headers"]),
            query_params: conditions(&m["queryParams"]),
            without_headers: conditions(&m["withoutHeaders"]),
        });
    }
    for (a_index, a) in prefixes.iter().enumerate() {
        for b in &prefixes[a_index + 1..] {
            if a.prefix != b.prefix && covers(a, b) {
                report.ineffective(
                    b.rule,
                    b.matchno,
                    &b.rule_name,
                    &format!("{} of prefix {}", b.match_name, b.prefix),
                    &format!("{} of prefix {} on {}", a.match_name, a.prefix, a.rule_name),
                );
            }
        }
    }
}

/// Whether every request `b` matches is matched by the earlier `a`.
fn covers(a: &PrefixMatch, b: &PrefixMatch) -> bool {
    let value_covers = |x: &str, y: &str| x == y || x.starts_with(y);
    let map_covers = |x: &BTreeMap<String, String>, y: &BTreeMap<String, String>| {
        x.len() == y.len()
            && x.iter()
                .all(|(k, v)| y.get(k).is_some_and(|w| value_covers(v, w)))
    };
    b.prefix.starts_with(&a.prefix)
        && a.port == b.port
        && value_covers(&a.method, &b.method)
        && value_covers(&a.authority, &b.authority)
        && map_covers(&a.headers, &b.headers)
        && map_covers(&a.query_params, &b.query_params)
        && map_covers(&a.without_headers, &b.without_headers)
}
