//! The gRPC client mode: unary Echo calls over one HTTP/2 connection (as gRPC
//! clients do), summarised per workload version and gRPC status.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http2::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::{ECHO_PATH, EchoRequest, EchoResponse, decode_frame, encode_frame};
use crate::summary::{Outcome, Recorder, Summary};

/// A run of Echo calls.
#[derive(Debug, Clone)]
pub struct GrpcLoad {
    /// `host:port` (an `http://` prefix is accepted).
    pub target: String,
    pub request: EchoRequest,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub count: u64,
    pub concurrency: usize,
    pub timeout: Duration,
}

/// What one call returned.
#[derive(Debug, Clone)]
pub struct CallResult {
    /// The gRPC status (`grpc-status`).
    pub code: i32,
    pub message: String,
    pub reply: Option<EchoResponse>,
}

impl GrpcLoad {
    /// Connects once and sends the calls; a connection failure fails the run.
    pub async fn run(&self) -> Result<Summary, String> {
        let authority = authority(&self.target);
        let sender = connect(authority, self.timeout).await?;
        let remaining = Arc::new(AtomicU64::new(self.count));
        let started = Instant::now();
        let mut workers = JoinSet::new();
        for _ in 0..self.concurrency.max(1) {
            let (load, mut sender, remaining) = (self.clone(), sender.clone(), remaining.clone());
            workers.spawn(async move {
                let mut outcomes = Vec::new();
                while remaining
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    outcomes.push(load.one(&mut sender).await);
                }
                outcomes
            });
        }
        let mut recorder = Recorder::new(&self.target);
        while let Some(done) = workers.join_next().await {
            for outcome in done.unwrap_or_default() {
                recorder.record(outcome);
            }
        }
        Ok(recorder.finish(started.elapsed()))
    }

    /// One call, for printing its reply.
    pub async fn call_once(&self) -> Result<CallResult, String> {
        let mut sender = connect(authority(&self.target), self.timeout).await?;
        tokio::time::timeout(self.timeout, self.call(&mut sender))
            .await
            .map_err(|_| format!("{}: no answer in {:?}", self.target, self.timeout))?
    }

    async fn one(&self, sender: &mut SendRequest<Full<Bytes>>) -> Outcome {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, self.call(sender)).await;
        let latency = started.elapsed();
        match result {
            Ok(Ok(call)) => {
                let workload = call.reply.map(|r| format!("{}/{}", r.name, r.version));
                Outcome {
                    status: Some(format!("grpc {}", call.code)),
                    chain: workload.clone(),
                    workload,
                    error: None,
                    latency,
                }
            }
            Ok(Err(error)) => Outcome {
                error: Some(error),
                latency,
                ..Outcome::default()
            },
            Err(_) => Outcome {
                error: Some(format!("no answer in {:?}", self.timeout)),
                latency,
                ..Outcome::default()
            },
        }
    }

    async fn call(&self, sender: &mut SendRequest<Full<Bytes>>) -> Result<CallResult, String> {
        let authority = authority(&self.target);
        let mut request = Request::post(format!("http://{authority}{ECHO_PATH}"))
            .header(CONTENT_TYPE, "application/grpc")
            .header("te", "trailers")
            .body(Full::new(encode_frame(&self.request)))
            .map_err(|e| format!("bad gRPC request to {authority}: {e}"))?;
        for (name, value) in &self.headers {
            request.headers_mut().append(name.clone(), value.clone());
        }
        sender
            .ready()
            .await
            .map_err(|e| format!("{authority}: connection lost: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{authority}{ECHO_PATH}: {e}"))?;
        let (parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Err(format!("{authority}{ECHO_PATH}: HTTP {}", parts.status));
        }
        let collected = body
            .collect()
            .await
            .map_err(|e| format!("{authority}{ECHO_PATH}: reading the answer: {e}"))?;
        // A status without a message comes "trailers-only", in the headers.
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let (code, message) = status(&trailers)
            .or_else(|| status(&parts.headers))
            .ok_or_else(|| format!("{authority}{ECHO_PATH}: no grpc-status in the answer"))?;
        let body = collected.to_bytes();
        let reply = if body.is_empty() {
            None
        } else {
            Some(decode_frame::<EchoResponse>(&body)?)
        };
        Ok(CallResult {
            code,
            message,
            reply,
        })
    }
}

async fn connect(authority: &str, timeout: Duration) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect(authority))
        .await
        .map_err(|_| format!("connecting to {authority}: no answer in {timeout:?}"))?
        .map_err(|e| format!("connecting to {authority}: {e}"))?;
    let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP/2 handshake with {authority}: {e}"))?;
    tokio::spawn(connection);
    Ok(sender)
}

fn authority(target: &str) -> &str {
    let target = target.strip_prefix("http://").unwrap_or(target);
    target.trim_end_matches('/')
}

fn status(headers: &HeaderMap) -> Option<(i32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Some((code, message))
}
