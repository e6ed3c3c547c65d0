//! HTTP/1.1 upgrades (WebSocket, the one Istio's connection manager allows): the
//! request goes upstream with its `Connection: upgrade` and `Upgrade` headers, and
//! once the upstream answers 101 both connections become one byte tunnel.

use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderMap, HeaderValue, UPGRADE};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;

/// The downstream side of a WebSocket upgrade request, if this is one.
pub(super) fn websocket(req: &mut Request<Incoming>) -> Option<OnUpgrade> {
    is_websocket(req.version(), req.headers()).then(|| hyper::upgrade::on(req))
}

fn is_websocket(version: Version, headers: &HeaderMap) -> bool {
    let connection_upgrade = headers.get_all(CONNECTION).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
    });
    let websocket = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    version == Version::HTTP_11 && connection_upgrade && websocket
}

/// Puts back the hop-by-hop headers an upgrade must carry to the next hop.
pub(super) fn restore_headers(headers: &mut HeaderMap) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
}

/// On a 101 from upstream: joins the two connections into a tunnel (in the
/// background) and keeps the response's upgrade headers for the client.
pub(super) fn tunnel(downstream: OnUpgrade, response: &mut Response<Incoming>) -> bool {
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return false;
    }
    let upstream = hyper::upgrade::on(&mut *response);
    tokio::spawn(async move {
        let (down, up) = match tokio::try_join!(downstream, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!("upgrade failed: {e}");
                return;
            }
        };
        let (mut down, mut up) = (TokioIo::new(down), TokioIo::new(up));
        if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
            tracing::debug!("upgraded connection ended: {e}");
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    hyper::header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn only_http1_websocket_upgrades_are_passed_on() {
        let ws = headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert!(is_websocket(Version::HTTP_11, &ws));
        assert!(!is_websocket(Version::HTTP_2, &ws));
        let h2c = headers(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
        ]);
        assert!(!is_websocket(Version::HTTP_11, &h2c));
        let no_connection = headers(&[("upgrade", "websocket")]);
        assert!(!is_websocket(Version::HTTP_11, &no_connection));
    }
}
