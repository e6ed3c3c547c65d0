//! Header handling every proxied request and response gets: hop-by-hop headers
//! (RFC 9110 §7.6.1), `x-request-id`, `x-forwarded-*`, path normalization.

use std::cell::Cell;
use std::net::IpAddr;

use hyper::HeaderMap;
use hyper::header::{CONNECTION, HeaderName, HeaderValue, TE, TRANSFER_ENCODING, UPGRADE};

use crate::config::{ForwardClientCert, XfccMode};
use crate::tls::PeerCertificate;

const KEEP_ALIVE: &str = "keep-alive";
const PROXY_CONNECTION: &str = "proxy-connection";
pub(super) const X_REQUEST_ID: &str = "x-request-id";
pub(super) const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
pub(super) const X_FORWARDED_FOR: &str = "x-forwarded-for";
pub(super) const X_FORWARDED_CLIENT_CERT: &str = "x-forwarded-client-cert";

/// Removes the headers meant for one connection only: `Connection` and those it
/// names, `Keep-Alive`, `Proxy-Connection`, `TE` (except `trailers`),
/// `Transfer-Encoding`, `Upgrade`.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    let te_trailers = headers.get_all(TE).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        })
    });
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE, TE] {
        headers.remove(name);
    }
    headers.remove(KEEP_ALIVE);
    headers.remove(PROXY_CONNECTION);
    if te_trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// Envoy's request-side headers: a request id when there is none, the scheme the
/// client used, and (with `use_remote_address`) the client's address appended to
/// `x-forwarded-for`.
pub(super) fn forwarded(
    headers: &mut HeaderMap,
    peer: IpAddr,
    use_remote_address: bool,
    tls: bool,
) {
    if !headers.contains_key(X_REQUEST_ID)
        && let Ok(v) = HeaderValue::from_str(&request_id())
    {
        headers.insert(X_REQUEST_ID, v);
    }
    if !headers.contains_key(X_FORWARDED_PROTO) {
        let scheme = if tls { "https" } else { "http" };
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(scheme));
    }
    if use_remote_address {
        let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev},{peer}"),
            None => peer.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&xff) {
            headers.insert(X_FORWARDED_FOR, v);
        }
    }
}

/// `x-forwarded-client-cert` as the connection manager's settings say, for a
/// connection whose verified client certificate is `peer` (none: not mTLS).
pub(super) fn client_cert(
    headers: &mut HeaderMap,
    settings: &ForwardClientCert,
    peer: Option<&PeerCertificate>,
) {
    let element = || {
        peer.map(|p| p.xfcc_element(settings.subject, settings.uri, settings.dns))
            .and_then(|e| HeaderValue::from_str(&e).ok())
    };
    match (settings.mode, peer.is_some()) {
        (XfccMode::AlwaysForwardOnly, _) | (XfccMode::ForwardOnly, true) => {}
        (XfccMode::AppendForward, true) => {
            let Some(mine) = element() else { return };
            let joined = match headers.get(X_FORWARDED_CLIENT_CERT) {
                Some(prev) => {
                    let mut v = prev.as_bytes().to_vec();
                    v.push(b',');
                    v.extend_from_slice(mine.as_bytes());
                    HeaderValue::from_bytes(&v).unwrap_or(mine)
                }
                None => mine,
            };
            headers.insert(X_FORWARDED_CLIENT_CERT, joined);
        }
        (XfccMode::SanitizeSet, true) => {
            headers.remove(X_FORWARDED_CLIENT_CERT);
            if let Some(mine) = element() {
                headers.insert(X_FORWARDED_CLIENT_CERT, mine);
            }
        }
        // Sanitize, and every mode but ALWAYS_FORWARD_ONLY without mTLS: a client
        // must not be able to claim a certificate it did not present.
        _ => {
            headers.remove(X_FORWARDED_CLIENT_CERT);
        }
    }
}

/// A random UUID v4, as Envoy generates for `x-request-id`.
pub(super) fn request_id() -> String {
    let (a, b) = (random(), random());
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// A fast per-thread pseudo-random number (xorshift64*), for weights and ids.
pub fn random() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    (nanos ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

/// RFC 3986 §5.2.4 dot-segment removal of the path (the query is kept), as Envoy's
/// `normalize_path`. `None` when the path does not start with `/`.
pub(super) fn normalize_path(path_and_query: &str) -> Option<String> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    if !path.starts_with('/') {
        return None;
    }
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut normalized = format!("/{}", out.join("/"));
    if let Some(q) = query {
        normalized.push('?');
        normalized.push_str(q);
    }
    Some(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(
            normalize_path("/a/./b/../c?x=1").as_deref(),
            Some("/a/c?x=1")
        );
        assert_eq!(normalize_path("/../a").as_deref(), Some("/a"));
        assert_eq!(normalize_path("/a/..").as_deref(), Some("/"));
        assert_eq!(normalize_path("a"), None);
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_ne!(id, request_id());
    }
}
