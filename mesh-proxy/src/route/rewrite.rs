//! Path rewrites of forwarded requests and the `Location` of redirects, as Envoy
//! computes them.

use super::matcher::split_path;
use super::{Forward, PathMatch, Redirect, RouteMatch};

impl Forward {
    /// The `:path` sent upstream: `prefix_rewrite` replaces the matched prefix (the
    /// whole path for exact and regex matches); `regex_rewrite` substitutes every match
    /// in the path. The query is kept.
    pub fn rewritten_path(&self, matcher: &RouteMatch, path_and_query: &str) -> Option<String> {
        if let Some(prefix) = &self.prefix_rewrite {
            return Some(rewrite_prefix(matcher, prefix, path_and_query));
        }
        let (regex, substitution) = self.regex_rewrite.as_ref()?;
        let (path, query) = split_path(path_and_query);
        let mut out = regex.replace_all(path, substitution.as_str()).into_owned();
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        Some(out)
    }
}

impl Redirect {
    /// The redirect's `Location` (Envoy's `Http::Utility::newUri`).
    pub fn location(
        &self,
        matcher: &RouteMatch,
        scheme: &str,
        authority: &str,
        path_and_query: &str,
    ) -> String {
        let scheme = self.scheme.as_deref().unwrap_or(scheme);
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let host = match &self.host {
            Some(h) => h.clone(),
            None => request_host(authority, scheme, !port.is_empty()).to_string(),
        };
        let mut path = match (&self.path, &self.prefix_rewrite) {
            (Some(p), _) if p.contains('?') => {
                return format!("{scheme}://{host}{port}{}", leading_slash(p));
            }
            (Some(p), _) => match split_path(path_and_query).1 {
                Some(q) => format!("{p}?{q}"),
                None => p.clone(),
            },
            (None, Some(prefix)) => rewrite_prefix(matcher, prefix, path_and_query),
            (None, None) => path_and_query.to_string(),
        };
        path = leading_slash(&path);
        if self.strip_query
            && let Some(i) = path.find('?')
        {
            path.truncate(i);
        }
        format!("{scheme}://{host}{port}{path}")
    }
}

fn leading_slash(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// The request's host for a redirect: its port dropped when a new port is set, or it
/// is the scheme's default.
fn request_host<'a>(authority: &'a str, scheme: &str, new_port: bool) -> &'a str {
    let host_end = if authority.starts_with('[') {
        authority.rfind("]:").map(|i| i + 1)
    } else {
        authority.rfind(':')
    };
    match host_end {
        Some(i) => {
            let port = &authority[i..];
            if new_port
                || (scheme == "http" && port == ":80")
                || (scheme == "https" && port == ":443")
            {
                &authority[..i]
            } else {
                authority
            }
        }
        None => authority,
    }
}

fn rewrite_prefix(matcher: &RouteMatch, prefix: &str, path_and_query: &str) -> String {
    let (path, query) = split_path(path_and_query);
    let rest = match &matcher.path {
        PathMatch::Prefix(p) => path.get(p.len()..).unwrap_or(""),
        PathMatch::Exact(_) | PathMatch::Regex(_) => "",
    };
    let mut out = format!("{prefix}{rest}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
