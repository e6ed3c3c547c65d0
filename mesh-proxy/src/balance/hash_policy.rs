//! Request hashes for ring hash and maglev, as Envoy's `Router::HashPolicyImpl` computes them
//! from a route's `hash_policy` list.
//!
//! [`generate_hash(policies, request)`](generate_hash) walks the policies in order; each
//! that yields a value is folded in as `hash = rotl(hash, 1) ^ new` (rotating keeps two
//! identical policies from cancelling), and a `terminal` policy that has produced a hash
//! stops the walk. Every value is hashed with `xxHash64(value, seed 0)`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::xxhash::xxh64;

/// One entry of a route's `hash_policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashPolicy {
    /// What the hash is taken from.
    pub kind: HashPolicyKind,
    /// Stop at this policy when a hash has been produced so far.
    pub terminal: bool,
}

/// The hash sources Istio's `consistentHash` emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPolicyKind {
    /// `header.header_name` (Istio `httpHeaderName`): all values of the header, sorted,
    /// chained through xxHash64 seeds. Names compare case-insensitively.
    Header {
        /// Header name.
        name: String,
    },
    /// `cookie` (Istio `httpCookie`): the cookie's value; when absent and a `ttl` is set,
    /// Envoy mints one (see [`RequestHash::set_cookie`]).
    Cookie {
        /// Cookie name.
        name: String,
        /// Lifetime of a minted cookie; `None` never mints.
        ttl: Option<Duration>,
        /// `Path` of a minted cookie (empty for none).
        path: String,
    },
    /// `connection_properties.source_ip` (Istio `useSourceIp`).
    SourceIp,
    /// `query_parameter.name` (Istio `httpQueryParameterName`): the first value, undecoded.
    QueryParameter {
        /// Parameter name (case-sensitive).
        name: String,
    },
}

/// What the hash policies may look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestAttributes<'a> {
    /// Request headers as `(name, value)` pairs, repeated names allowed.
    pub headers: &'a [(&'a str, &'a str)],
    /// The `:path`, query string included.
    pub path: &'a str,
    /// Downstream peer address.
    pub remote_address: Option<SocketAddr>,
    /// Downstream local address (part of a minted cookie's value).
    pub local_address: Option<SocketAddr>,
}

/// The result of hashing a request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHash {
    /// The request hash, `None` when no policy produced one (Envoy then picks at random).
    pub hash: Option<u64>,
    /// A cookie to add to the response with `Set-Cookie`, minted by a cookie policy.
    pub set_cookie: Option<MintedCookie>,
}

/// A cookie minted by a cookie policy with a `ttl`, to be sent as
/// `Set-Cookie: name="value"; Max-Age=ttl; Path=path; HttpOnly`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedCookie {
    /// Cookie name.
    pub name: String,
    /// 16 lowercase hex digits.
    pub value: String,
    /// `Path` attribute (empty for none).
    pub path: String,
    /// `Max-Age`.
    pub ttl: Duration,
}

/// Envoy's `HashPolicyImpl::generateHash` over `policies` for `request`.
pub fn generate_hash(policies: &[HashPolicy], request: &RequestAttributes<'_>) -> RequestHash {
    let mut out = RequestHash::default();
    for policy in policies {
        if let Some(new) = evaluate(&policy.kind, request, &mut out.set_cookie) {
            let old = out.hash.map_or(0, |h| h.rotate_left(1));
            out.hash = Some(old ^ new);
        }
        if policy.terminal && out.hash.is_some() {
            break;
        }
    }
    out
}

fn evaluate(
    kind: &HashPolicyKind,
    request: &RequestAttributes<'_>,
    set_cookie: &mut Option<MintedCookie>,
) -> Option<u64> {
    match kind {
        HashPolicyKind::Header { name } => {
            let mut values: Vec<&str> = request
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|&(_, v)| v)
                .collect();
            if values.is_empty() {
                return None;
            }
            // Sorted so that the order of repeated headers does not change the hash.
            values.sort_unstable();
            Some(values.iter().fold(0, |seed, v| xxh64(v.as_bytes(), seed)))
        }
        HashPolicyKind::Cookie { name, ttl, path } => {
            if let Some(value) = cookie_value(request.headers, name).filter(|v| !v.is_empty()) {
                return Some(xxh64(value.as_bytes(), 0));
            }
            let ttl = (*ttl)?;
            let value = minted_cookie_value(request);
            let hash = xxh64(value.as_bytes(), 0);
            *set_cookie = Some(MintedCookie {
                name: name.clone(),
                value,
                path: path.clone(),
                ttl,
            });
            Some(hash)
        }
        HashPolicyKind::SourceIp => {
            let ip: IpAddr = request.remote_address?.ip();
            Some(xxh64(ip.to_string().as_bytes(), 0))
        }
        HashPolicyKind::QueryParameter { name } => {
            let query = request.path.split_once('?')?.1;
            let query = query.split('#').next().unwrap_or(query);
            query
                .split('&')
                .find_map(|pair| match pair.split_once('=') {
                    Some((k, v)) if k == name => Some(v),
                    None if pair == name => Some(""),
                    _ => None,
                })
                .map(|v| xxh64(v.as_bytes(), 0))
        }
    }
}

/// Envoy's `Http::Utility::parseCookieValue`: the first `name=value` in any `Cookie` header,
/// surrounding double quotes removed.
pub fn cookie_value<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|&(_, v)| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim_start().split_once('=')?;
            (k == name).then(|| {
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v)
            })
        })
}

/// Envoy's router mints `hex(xxHash64(remote address + local address))`, so that every
/// request of one connection gets the same cookie.
fn minted_cookie_value(request: &RequestAttributes<'_>) -> String {
    let address = |a: Option<SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let key = address(request.remote_address) + &address(request.local_address);
    format!("{:016x}", xxh64(key.as_bytes(), 0))
}

#[cfg(test)]
mod tests;
