//! An in-process HTTP echo server standing in for one workload: every answer says which
//! workload answered, and the server can be told to fail or to be slow.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Header naming the workload that answered.
pub const WORKLOAD_HEADER: &str = "x-echo-workload";
/// Header with the path (and query) the workload received.
pub const PATH_HEADER: &str = "x-echo-path";
/// Header with the Host (authority) the workload received.
pub const HOST_HEADER: &str = "x-echo-host";
/// Request header: delay this one answer by that many milliseconds.
pub const DELAY_REQUEST_HEADER: &str = "x-echo-delay-ms";

/// A running echo server; it stops (and drops its connections) when dropped.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    workload: String,
    state: Arc<EchoState>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct EchoState {
    fail_next: AtomicU32,
    delay_ms: AtomicU64,
    requests: AtomicU64,
    connections: AtomicU64,
    last_host: Mutex<Option<String>>,
}

impl EchoServer {
    /// Starts an echo server for `workload` on `addr`.
    pub async fn start(workload: &str, addr: SocketAddr) -> std::io::Result<EchoServer> {
        let listener = TcpListener::bind(addr).await?;
        let state = Arc::new(EchoState::default());
        let task = tokio::spawn(accept_loop(listener, workload.to_string(), state.clone()));
        Ok(EchoServer {
            addr,
            workload: workload.to_string(),
            state,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn workload(&self) -> &str {
        &self.workload
    }

    /// The next `n` requests get `503 Service Unavailable` (a flaky upstream).
    pub fn fail_next(&self, n: u32) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every answer from now on waits `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Requests received so far, failed ones included.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// The Host of the last request received (for copies whose answers nobody sees,
    /// such as mirrored requests).
    pub fn last_host(&self) -> Option<String> {
        self.state
            .last_host
            .lock()
            .map_or(None, |host| host.clone())
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        // Dropping the accept task drops its JoinSet, which aborts every connection.
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, workload: String, state: Arc<EchoState>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        state.connections.fetch_add(1, Ordering::SeqCst);
        let workload = workload.clone();
        let state = state.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |req| answer(req, workload.clone(), state.clone()));
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// The response headers with the size and checksum of the request body received.
pub const BODY_BYTES_HEADER: &str = "x-echo-body-bytes";
pub const BODY_SUM_HEADER: &str = "x-echo-body-sum";

async fn answer(
    req: Request<Incoming>,
    workload: String,
    state: Arc<EchoState>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let per_request = req
        .headers()
        .get(DELAY_REQUEST_HEADER)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let delay = per_request.unwrap_or_else(|| state.delay_ms.load(Ordering::SeqCst));
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let failing = state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    if let Ok(mut last) = state.last_host.lock() {
        *last = Some(host.clone());
    }
    let mut body = format!(
        "workload={workload}\nmethod={}\npath={path}\nhost={host}\n",
        req.method()
    );
    for (name, value) in req.headers() {
        let _ = writeln!(body, "{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    // What arrived of the request body: its size and a checksum, to prove a proxy
    // passed (or, on a retry, resent) it whole.
    let received = req.into_body().collect().await.map(|b| b.to_bytes());
    let (size, sum) = match &received {
        Ok(b) => (
            b.len().to_string(),
            b.iter()
                .fold(0u32, |h, x| h.wrapping_mul(31).wrapping_add(u32::from(*x)))
                .to_string(),
        ),
        Err(e) => (format!("error: {e}"), String::new()),
    };
    let response = Response::builder()
        .status(status)
        .header(BODY_BYTES_HEADER, size)
        .header(BODY_SUM_HEADER, sum)
        .header(WORKLOAD_HEADER, &workload)
        .header(PATH_HEADER, &path)
        .header(HOST_HEADER, &host)
        .body(Full::new(Bytes::from(body)));
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"bad header")))))
}
