//! The HTTP/1.1 and h2c server: every answer is JSON naming the workload, echoing the
//! request and carrying the upstreams' answers.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HOST, HeaderMap};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::faults::{Directives, Faults};
use crate::reply::EchoReply;
use crate::upstream::Upstreams;
use crate::workload::Workload;

/// Response header naming the workload that answered (`name/version`), for clients
/// that do not read the body.
pub const WORKLOAD_HEADER: &str = "x-sample-workload";

/// One workload's HTTP behaviour: who it is, its faults and its upstreams.
#[derive(Debug)]
pub struct HttpApp {
    workload: Workload,
    faults: Faults,
    upstreams: Upstreams,
}

impl HttpApp {
    pub fn new(workload: Workload, faults: Faults, upstreams: Upstreams) -> HttpApp {
        HttpApp {
            workload,
            faults,
            upstreams,
        }
    }

    /// Answers one request (its body is not read): waits the asked or configured delay,
    /// fails when asked to or when this answer is in the configured failure fraction,
    /// and otherwise calls the upstreams.
    pub async fn answer<B>(&self, req: Request<B>) -> Response<Full<Bytes>> {
        let directives = match Directives::from_query(req.uri().query()) {
            Ok(d) => d,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &e),
        };
        let delay = directives.delay.unwrap_or_else(|| self.faults.delay());
        if delay > Duration::ZERO {
            tokio::time::sleep(delay).await;
        }
        let status = directives
            .status
            .or_else(|| self.faults.next_failure())
            .unwrap_or(200);
        let upstreams = if status < 400 && !self.upstreams.is_empty() {
            self.upstreams.call_all(req.headers()).await
        } else {
            Vec::new()
        };
        let reply = EchoReply {
            name: self.workload.name.clone(),
            version: self.workload.version.clone(),
            namespace: self.workload.namespace.clone(),
            pod: self.workload.pod.clone(),
            ip: self.workload.ip.clone(),
            protocol: format!("{:?}", req.version()),
            method: req.method().to_string(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| "/".to_string(), ToString::to_string),
            host: host(&req),
            status,
            headers: header_map(req.headers()),
            upstreams,
        };
        let body = serde_json::to_vec_pretty(&reply).unwrap_or_default();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/json")
            .header(WORKLOAD_HEADER, self.workload.key())
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|e| plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
    }
}

/// Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on `listener` until the task
/// is dropped.
pub async fn serve(listener: TcpListener, app: Arc<HttpApp>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: do not spin.
                eprintln!("mesh-sample-app: accepting an HTTP connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let app = app.clone();
                async move { Ok::<_, Infallible>(app.answer(req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn host<B>(req: &Request<B>) -> String {
    req.headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(ToString::to_string))
        .unwrap_or_default()
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map = BTreeMap::<String, String>::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests;
