//! Picking the virtual host and the route for a request, as Envoy's router does.

use hyper::HeaderMap;

use super::{
    HeaderMatchKind, HeaderMatcher, PathMatch, QueryParameterMatcher, Route, RouteMatch,
    RouteTable, StringMatcher, VirtualHost, WeightedCluster,
};

/// What route matching looks at in a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    pub scheme: &'a str,
    pub authority: &'a str,
    /// Path and query, as `:path`.
    pub path: &'a str,
    pub headers: &'a HeaderMap,
}

impl RouteTable {
    /// The virtual host for `authority`: an exact domain, else the longest suffix
    /// wildcard (`*.example.com`), else the longest prefix wildcard (`example.*`),
    /// else `*`. Matching ignores case; a port in the Host is part of it.
    pub fn virtual_host(&self, authority: &str) -> Option<&VirtualHost> {
        let host = authority.to_ascii_lowercase();
        let mut suffix: Option<(usize, &VirtualHost)> = None;
        let mut prefix: Option<(usize, &VirtualHost)> = None;
        let mut default = None;
        for vh in &self.virtual_hosts {
            for domain in &vh.domains {
                if *domain == host {
                    return Some(vh);
                }
                if domain == "*" {
                    default = default.or(Some(vh));
                } else if let Some(s) = domain.strip_prefix('*') {
                    if host.len() > s.len()
                        && host.ends_with(s)
                        && suffix.is_none_or(|(l, _)| s.len() > l)
                    {
                        suffix = Some((s.len(), vh));
                    }
                } else if let Some(p) = domain.strip_suffix('*')
                    && host.len() > p.len()
                    && host.starts_with(p)
                    && prefix.is_none_or(|(l, _)| p.len() > l)
                {
                    prefix = Some((p.len(), vh));
                }
            }
        }
        suffix.or(prefix).map(|(_, vh)| vh).or(default)
    }

    /// The virtual host and the first of its routes that matches, if any.
    pub fn route(&self, req: &RequestHead<'_>) -> Option<(&VirtualHost, &Route)> {
        let vh = self.virtual_host(req.authority)?;
        let route = vh.routes.iter().find(|r| r.matcher.matches(req))?;
        Some((vh, route))
    }
}

impl RouteMatch {
    pub fn matches(&self, req: &RequestHead<'_>) -> bool {
        let (path, query) = split_path(req.path);
        let path_ok = match &self.path {
            PathMatch::Prefix(p) if self.case_sensitive => path.starts_with(p.as_str()),
            PathMatch::Prefix(p) => path
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p)),
            PathMatch::Exact(p) if self.case_sensitive => path == p,
            PathMatch::Exact(p) => path.eq_ignore_ascii_case(p),
            PathMatch::Regex(r) => r.is_match(path),
        };
        path_ok
            && self.headers.iter().all(|h| h.matches(req))
            && self.query_parameters.iter().all(|q| q.matches(query))
    }
}

impl HeaderMatcher {
    /// Envoy's `HeaderUtility::matchHeaders`: an absent header matches only a
    /// `present_match: false` (or, inverted, a `present_match: true`).
    pub fn matches(&self, req: &RequestHead<'_>) -> bool {
        let value = header_value(req, &self.name);
        let value = match value {
            Some(v) => v,
            None if self.treat_missing_as_empty => String::new(),
            None => {
                let present =
                    |want: bool| matches!(self.kind, HeaderMatchKind::Present(p) if p == want);
                return if self.invert {
                    present(true)
                } else {
                    present(false)
                };
            }
        };
        let matched = match &self.kind {
            HeaderMatchKind::Present(p) => *p,
            HeaderMatchKind::String(s) => s.matches(&value),
            HeaderMatchKind::Range { start, end } => {
                value.parse::<i64>().is_ok_and(|v| *start <= v && v < *end)
            }
        };
        matched != self.invert
    }
}

impl QueryParameterMatcher {
    fn matches(&self, query: Option<&str>) -> bool {
        let Some(value) = query.and_then(|q| first_query_value(q, &self.name)) else {
            return false;
        };
        self.value.as_ref().is_none_or(|m| m.matches(&value))
    }
}

impl StringMatcher {
    pub fn matches(&self, value: &str) -> bool {
        let fold = |v: &str, ic: bool| {
            if ic {
                v.to_ascii_lowercase()
            } else {
                v.to_string()
            }
        };
        match self {
            StringMatcher::Exact {
                value: want,
                ignore_case,
            } => {
                if *ignore_case {
                    value.eq_ignore_ascii_case(want)
                } else {
                    value == want
                }
            }
            StringMatcher::Prefix {
                value: want,
                ignore_case,
            } => fold(value, *ignore_case).starts_with(&fold(want, *ignore_case)),
            StringMatcher::Suffix {
                value: want,
                ignore_case,
            } => fold(value, *ignore_case).ends_with(&fold(want, *ignore_case)),
            StringMatcher::Contains {
                value: want,
                ignore_case,
            } => fold(value, *ignore_case).contains(&fold(want, *ignore_case)),
            StringMatcher::Regex(r) => r.is_match(value),
        }
    }
}

/// The cluster a random draw picks: Envoy walks the clusters in order, each taking a
/// share of `[0, total)` equal to its weight.
pub fn pick_weighted(clusters: &[WeightedCluster], random: u64) -> Option<&WeightedCluster> {
    let total: u64 = clusters.iter().map(|c| u64::from(c.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut draw = random % total;
    for c in clusters {
        let w = u64::from(c.weight);
        if draw < w {
            return Some(c);
        }
        draw -= w;
    }
    None
}

/// Splits `:path` into path and query (a fragment is dropped).
pub(crate) fn split_path(path: &str) -> (&str, Option<&str>) {
    let path = path.split('#').next().unwrap_or(path);
    match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    }
}

/// A header's value for matching: pseudo-headers from the request line, several
/// values of one header joined by `,` (as Envoy does).
fn header_value(req: &RequestHead<'_>, name: &str) -> Option<String> {
    match name {
        ":method" => return Some(req.method.to_string()),
        ":authority" | "host" => return Some(req.authority.to_string()),
        ":scheme" => return Some(req.scheme.to_string()),
        ":path" => return Some(req.path.to_string()),
        _ => {}
    }
    let mut values = req.headers.get_all(name).iter().peekable();
    values.peek()?;
    let joined: Vec<&str> = values.filter_map(|v| v.to_str().ok()).collect();
    Some(joined.join(","))
}

/// The first value of query parameter `name`, percent-decoded.
fn first_query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
