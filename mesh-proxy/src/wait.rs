//! `mesh-proxy wait`: returns once the proxy in this pod is ready (pilot-agent's
//! `wait`). The injector makes it the proxy container's postStart hook under
//! holdApplicationUntilProxyStarts: Kubernetes starts the next container only when
//! the hook returns, so the app never runs before its proxy can carry traffic.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Wait until the proxy reports ready on its health port (`GET /healthz/ready`).
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// The proxy's health address.
    #[arg(long, env = "MESH_WAIT_ADDRESS", default_value = "127.0.0.1:15021")]
    pub address: SocketAddr,
    /// The readiness path.
    #[arg(long, default_value = "/healthz/ready")]
    pub path: String,
    /// Give up after this long (exit 1), e.g. 60s, 2m.
    #[arg(long, default_value = "60s", value_parser = mesh_api::duration::parse_std)]
    pub timeout: Duration,
    /// Time between two checks, and the limit on each.
    #[arg(long, default_value = "500ms", value_parser = mesh_api::duration::parse_std)]
    pub period: Duration,
}

/// Polls until a 200; the error says what the last attempt saw.
pub async fn wait(args: &WaitArgs) -> Result<(), String> {
    let deadline = Instant::now() + args.timeout;
    loop {
        let last = match tokio::time::timeout(args.period, check(args)).await {
            Ok(Ok(StatusCode::OK)) => return Ok(()),
            Ok(Ok(code)) => format!("{} answered {code}", args.address),
            Ok(Err(e)) => e,
            Err(_) => format!("{} did not answer within {:?}", args.address, args.period),
        };
        if Instant::now() + args.period > deadline {
            return Err(format!(
                "the proxy was not ready after {:?}: {last}",
                args.timeout
            ));
        }
        tokio::time::sleep(args.period).await;
    }
}

async fn check(args: &WaitArgs) -> Result<StatusCode, String> {
    let stream = TcpStream::connect(args.address)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", args.address))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = Request::get(args.path.as_str())
        .header("host", args.address.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status())
}
