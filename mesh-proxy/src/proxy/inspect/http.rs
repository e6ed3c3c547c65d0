//! Envoy's `http_inspector`, the parsing part: whether a connection starts with an
//! HTTP/1.x request line (`http/1.1`, `http/1.0`) or the HTTP/2 preface (`h2c`).

use super::Inspection;

/// Envoy's inspector gives up (no protocol) after this many bytes without a verdict.
pub(crate) const MAX_INSPECT: usize = 8192;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// The methods Envoy's HTTP/1 parser accepts (its llhttp-compatible list).
const METHODS: &[&str] = &[
    "ACL",
    "BIND",
    "CHECKOUT",
    "CONNECT",
    "COPY",
    "DELETE",
    "GET",
    "HEAD",
    "LINK",
    "LOCK",
    "M-SEARCH",
    "MERGE",
    "MKACTIVITY",
    "MKCALENDAR",
    "MKCOL",
    "MOVE",
    "NOTIFY",
    "OPTIONS",
    "PATCH",
    "POST",
    "PROPFIND",
    "PROPPATCH",
    "PURGE",
    "PUT",
    "REBIND",
    "REPORT",
    "SEARCH",
    "SOURCE",
    "SUBSCRIBE",
    "TRACE",
    "UNBIND",
    "UNLINK",
    "UNLOCK",
    "UNSUBSCRIBE",
];

/// The application protocol the first bytes show, `NotThis` when they are not HTTP.
pub(crate) fn http_protocol(data: &[u8]) -> Inspection<&'static str> {
    let n = data.len().min(H2_PREFACE.len());
    if data[..n] == H2_PREFACE[..n] && !data.is_empty() {
        return if data.len() >= H2_PREFACE.len() {
            Inspection::Found("h2c")
        } else {
            Inspection::NeedMore
        };
    }
    let line_end = data.iter().position(|b| *b == b'\r' || *b == b'\n');
    let line = &data[..line_end.unwrap_or(data.len())];
    match request_line(line, line_end.is_some()) {
        Some(Some(protocol)) => Inspection::Found(protocol),
        Some(None) if data.len() < MAX_INSPECT => Inspection::NeedMore,
        _ => Inspection::NotThis,
    }
}

/// `Some(Some(p))`: a complete request line; `Some(None)`: a valid beginning of one;
/// `None`: not HTTP/1.
fn request_line(line: &[u8], complete: bool) -> Option<Option<&'static str>> {
    let mut parts = line.splitn(3, |b| *b == b' ');
    let method = parts.next().unwrap_or_default();
    let Some(target) = parts.next() else {
        // Still in the method: it must be (a prefix of) a known one.
        let prefix = METHODS.iter().any(|m| m.as_bytes().starts_with(method));
        return (prefix && !complete).then_some(None);
    };
    if !METHODS.iter().any(|m| m.as_bytes() == method) {
        return None;
    }
    if target.iter().any(|b| b.is_ascii_control()) {
        return None;
    }
    let Some(version) = parts.next() else {
        return (!complete).then_some(None);
    };
    if target.is_empty() {
        return None;
    }
    const HTTP_1: &[u8] = b"HTTP/1.";
    if !complete {
        let n = version.len().min(HTTP_1.len());
        let prefix_ok = version[..n] == HTTP_1[..n]
            && version
                .get(HTTP_1.len()..)
                .is_none_or(|d| d.len() <= 1 && d.iter().all(u8::is_ascii_digit));
        return prefix_ok.then_some(None);
    }
    match version {
        b"HTTP/1.1" => Some(Some("http/1.1")),
        b"HTTP/1.0" => Some(Some("http/1.0")),
        _ => None,
    }
}
