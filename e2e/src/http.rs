//! Requests to a proxy's listener, as a client application would send them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::echo::{HOST_HEADER, PATH_HEADER, WORKLOAD_HEADER};

/// Give up on one request after this long (well above any delay a test injects).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP/1.1 client with a connection pool (keep-alive, as applications do).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    pub elapsed: Duration,
}

/// One request: method, path, Host and extra headers.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub host: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The request body (empty for none).
    pub body: Bytes,
}

impl Call {
    pub fn get(host: &str, path: &str) -> Call {
        Call {
            method: Method::GET,
            host: host.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A POST of `body`.
    pub fn post(host: &str, path: &str, body: impl Into<Bytes>) -> Call {
        Call {
            method: Method::POST,
            body: body.into(),
            ..Call::get(host, path)
        }
    }

    pub fn method(mut self, method: Method) -> Call {
        self.method = method;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

impl Reply {
    /// The workload that answered (the echo server's header), if an echo server did.
    pub fn workload(&self) -> Option<&str> {
        self.header(WORKLOAD_HEADER)
    }

    /// The path (and query) the workload received.
    pub fn upstream_path(&self) -> Option<&str> {
        self.header(PATH_HEADER)
    }

    /// The Host the workload received.
    pub fn upstream_host(&self) -> Option<&str> {
        self.header(HOST_HEADER)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> HttpClient {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build_http();
        HttpClient { client }
    }

    /// Sends `call` to `addr`.
    pub async fn send(&self, addr: SocketAddr, call: &Call) -> Result<Reply, String> {
        let uri = format!("http://{addr}{}", call.path);
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(&uri)
            .body(Full::new(call.body.clone()))
            .map_err(|e| format!("bad request {uri}: {e}"))?;
        let headers = req.headers_mut();
        headers.insert(
            HOST,
            HeaderValue::from_str(&call.host).map_err(|e| format!("bad host: {e}"))?,
        );
        for (name, value) in &call.headers {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("{name}: {e}"))?,
                HeaderValue::from_str(value).map_err(|e| format!("{name}: {e}"))?,
            );
        }
        let started = Instant::now();
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{} {uri} (Host {}): {e:?}", call.method, call.host))?;
            let (parts, body) = res.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("reading the body from {uri}: {e}"))?
                .to_bytes();
            Ok::<_, String>(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                elapsed: started.elapsed(),
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("{} {uri}: no answer in {REQUEST_TIMEOUT:?}", call.method))?
    }

    /// Sends `call` `n` times, `concurrency` at a time, and returns every reply.
    pub async fn send_many(
        &self,
        addr: SocketAddr,
        call: &Call,
        n: usize,
        concurrency: usize,
    ) -> Result<Vec<Reply>, String> {
        let mut tasks = tokio::task::JoinSet::new();
        let per_task = n.div_ceil(concurrency.max(1));
        let mut remaining = n;
        while remaining > 0 {
            let count = per_task.min(remaining);
            remaining -= count;
            let (client, call) = (self.clone(), call.clone());
            tasks.spawn(async move {
                let mut replies = Vec::with_capacity(count);
                for _ in 0..count {
                    replies.push(client.send(addr, &call).await?);
                }
                Ok::<_, String>(replies)
            });
        }
        let mut all = Vec::with_capacity(n);
        while let Some(done) = tasks.join_next().await {
            all.extend(done.map_err(|e| format!("request task failed: {e}"))??);
        }
        Ok(all)
    }
}

/// Waits (up to 20 s) until `process`'s admin interface at `admin` answers `/ready`
/// at all (any status), or says that the process exited first.
pub async fn wait_admin_up(
    process: &str,
    child: &mut std::process::Child,
    http: &HttpClient,
    admin: SocketAddr,
) -> Result<(), String> {
    wait_http_up(process, "admin interface", child, http, admin, "/ready").await
}

/// Waits (up to 20 s) until `process`'s `what` at `addr` answers `path` at all (any
/// status), or says that the process exited first.
pub async fn wait_http_up(
    process: &str,
    what: &str,
    child: &mut std::process::Child,
    http: &HttpClient,
    addr: SocketAddr,
    path: &str,
) -> Result<(), String> {
    crate::poll::eventually(
        &format!("{process}'s {what}"),
        Duration::from_secs(20),
        || {
            let exited = child.try_wait().ok().flatten();
            let http = http.clone();
            async move {
                if let Some(status) = exited {
                    return Ok(Err(format!("{process} exited ({status})")));
                }
                http.send(addr, &Call::get("localhost", path))
                    .await
                    .map(|_| Ok(()))
            }
        },
    )
    .await
}
