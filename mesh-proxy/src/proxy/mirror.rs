//! Request mirroring (`request_mirror_policies`): a copy of the request goes to the
//! mirror cluster, fire and forget, as Envoy's shadow.

use http_body_util::BodyExt;
use hyper::header::{HOST, HeaderValue};

use super::attempts::upstream_request;
use super::forward::{Target, UpstreamHead};
use super::http::HttpConnection;
use super::local_reply::ProxyBody;
use crate::route::Mirror;

/// Sends a copy of the request to a mirror cluster and forgets it, as Envoy's shadow:
/// the Host gets `-shadow` before its port, the answer (or failure) is dropped.
pub(super) fn shadow(
    conn: &HttpConnection,
    t: &Target<'_>,
    mirror: &Mirror,
    head: &UpstreamHead<'_>,
    body: ProxyBody,
) {
    let (parts, host, path) = (&head.parts, head.host, head.path.as_str());
    let Some(cluster) = t.snapshot.clusters.get(&mirror.cluster).cloned() else {
        tracing::debug!(cluster = %mirror.cluster, "mirror cluster not found");
        return;
    };
    let Some(active) = cluster.pick(None, conn.downstream.original_dst, None) else {
        return;
    };
    let host = if mirror.shadow_host_suffix {
        shadow_host(host)
    } else {
        host.to_string()
    };
    let endpoint = active.address;
    let h2_authority = cluster.config.http2.then_some(host.as_str());
    let mut request = upstream_request(parts, endpoint, h2_authority, path, body);
    if cluster.config.http2 {
        *request.version_mut() = hyper::Version::HTTP_2;
        request.headers_mut().remove(HOST);
    } else {
        *request.version_mut() = hyper::Version::HTTP_11;
        if let Ok(v) = HeaderValue::from_str(&host) {
            request.headers_mut().insert(HOST, v);
        }
    }
    let timeout = t
        .forward
        .timeout
        .unwrap_or(crate::route::DEFAULT_ROUTE_TIMEOUT);
    tokio::spawn(async move {
        let call = cluster.runtime.request(endpoint, request);
        if let Ok(Ok(response)) = tokio::time::timeout(timeout, call).await {
            // Read to the end so that the connection goes back to the pool.
            let _ = response.into_body().collect().await;
        }
        drop(active);
    });
}

/// Envoy's shadow Host: `-shadow` after the name, before any port.
fn shadow_host(host: &str) -> String {
    match host.rsplit_once(':') {
        // A port: digits after the last colon (`[::1]` has none, `[::1]:80` has one).
        Some((name, port))
            if !name.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{name}-shadow:{port}")
        }
        _ => format!("{host}-shadow"),
    }
}

#[cfg(test)]
mod tests {
    use super::shadow_host;

    #[test]
    fn shadow_hosts_get_the_suffix_before_the_port() {
        assert_eq!(shadow_host("reviews"), "reviews-shadow");
        assert_eq!(shadow_host("reviews:9080"), "reviews-shadow:9080");
        assert_eq!(shadow_host("10.0.0.1:80"), "10.0.0.1-shadow:80");
        assert_eq!(shadow_host("[::1]:80"), "[::1]-shadow:80");
    }
}
