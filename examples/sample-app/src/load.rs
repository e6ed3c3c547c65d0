//! The HTTP client mode: `count` requests, `concurrency` at a time, summarised per
//! workload version, status and call chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;

use crate::reply::EchoReply;
use crate::summary::{Outcome, Recorder, Summary};

/// A run of HTTP requests.
#[derive(Debug, Clone)]
pub struct HttpLoad {
    pub url: Uri,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub count: u64,
    pub concurrency: usize,
    /// HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    pub http2: bool,
    /// Per request.
    pub timeout: Duration,
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

impl HttpLoad {
    /// Sends the requests and summarises what came back. Keep-alive connections are
    /// reused, as applications do, so a mesh balances requests, not connections.
    pub async fn run(&self) -> Summary {
        let client: HttpClient = Client::builder(TokioExecutor::new())
            .http2_only(self.http2)
            .build_http();
        let remaining = Arc::new(AtomicU64::new(self.count));
        let started = Instant::now();
        let mut workers = JoinSet::new();
        for _ in 0..self.concurrency.max(1) {
            let (load, client, remaining) = (self.clone(), client.clone(), remaining.clone());
            workers.spawn(async move {
                let mut outcomes = Vec::new();
                while remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    outcomes.push(load.one(&client).await);
                }
                outcomes
            });
        }
        let mut recorder = Recorder::new(&self.url.to_string());
        while let Some(done) = workers.join_next().await {
            for outcome in done.unwrap_or_default() {
                recorder.record(outcome);
            }
        }
        recorder.finish(started.elapsed())
    }

    async fn one(&self, client: &HttpClient) -> Outcome {
        let started = Instant::now();
        let exchange = send(client, &self.method, &self.url, &self.headers);
        let result = tokio::time::timeout(self.timeout, exchange).await;
        let latency = started.elapsed();
        match result {
            Err(_) => Outcome {
                error: Some(format!("no answer in {:?}", self.timeout)),
                latency,
                ..Outcome::default()
            },
            Ok(Err(error)) => Outcome {
                error: Some(error),
                latency,
                ..Outcome::default()
            },
            Ok(Ok((status, body))) => {
                let reply = serde_json::from_slice::<EchoReply>(&body).ok();
                Outcome {
                    status: Some(status.to_string()),
                    workload: reply.as_ref().map(EchoReply::workload),
                    chain: reply.as_ref().map(EchoReply::chain),
                    error: None,
                    latency,
                }
            }
        }
    }
}

/// One request: the status and body, or why there is none.
pub async fn fetch(
    url: &Uri,
    headers: &[(HeaderName, HeaderValue)],
    timeout: Duration,
) -> Result<(u16, Bytes), String> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    tokio::time::timeout(timeout, send(&client, &Method::GET, url, headers))
        .await
        .map_err(|_| format!("GET {url}: no answer in {timeout:?}"))?
}

async fn send(
    client: &HttpClient,
    method: &Method,
    url: &Uri,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<(u16, Bytes), String> {
    let mut request = Request::builder()
        .method(method.clone())
        .uri(url.clone())
        .body(Empty::new())
        .map_err(|e| format!("bad request {url}: {e}"))?;
    for (name, value) in headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let response = client
        .request(request)
        .await
        .map_err(|e| format!("{method} {url}: {}", error_chain(&e)))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{method} {url}: reading the body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// `error: cause: cause`, since hyper's top-level errors alone say little.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A `--header name:value` argument.
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("--header {text}: write name:value"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|e| format!("--header {text}: bad name: {e}"))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|e| format!("--header {text}: bad value: {e}"))?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_name_colon_value() {
        let (name, value) = parse_header("end-user: jason").expect("valid");
        assert_eq!(
            (name.as_str(), value.as_bytes()),
            ("end-user", &b"jason"[..])
        );
        assert!(parse_header("no-colon").is_err());
        assert!(parse_header("bad name:x").is_err());
    }
}
