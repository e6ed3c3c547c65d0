//! A proxy's own admin endpoint (Envoy's or mesh-proxy's, 127.0.0.1:15000 by
//! default), read as JSON: where `proxy-config secret` finds certificates, which
//! never pass through the control plane. One HTTP/1.1 GET on a current-thread
//! runtime, as the debug client does.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

/// `GET path` on the admin endpoint at `address`, as JSON.
pub(crate) fn get_json(address: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let address = address.strip_prefix("http://").unwrap_or(address);
    let address = address.trim_end_matches('/');
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start meshctl's HTTP client")?;
    let (status, body) = runtime.block_on(async {
        tokio::time::timeout(TIMEOUT, exchange(address, path))
            .await
            .map_err(|_| anyhow!("{address}{path} did not answer within {TIMEOUT:?}"))?
    })?;
    if status != StatusCode::OK {
        bail!(
            "{address}{path} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        );
    }
    serde_json::from_slice(&body).with_context(|| {
        format!("{address}{path} did not answer JSON; is {address} the proxy's admin endpoint?")
    })
}

async fn exchange(address: &str, path: &str) -> anyhow::Result<(StatusCode, Bytes)> {
    let stream = TcpStream::connect(address).await.with_context(|| {
        format!(
            "cannot reach the proxy's admin endpoint at {address}; it listens on the \
             proxy's localhost (run meshctl there, e.g. `ip netns exec POD meshctl …`, \
             or forward the port) and --admin HOST:PORT says where"
        )
    })?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("{address} does not speak HTTP/1.1"))?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, address)
        .header(header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .with_context(|| format!("{path:?} is not a request path"))?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("{address}{path}: no answer"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("{address}{path}: the answer broke off"))?
        .to_bytes();
    Ok((status, body))
}
