//! Calling the upstreams of a chain (frontend → backend → ratings) on every request,
//! passing on the headers that tie a trace and a user's session together, as
//! Bookinfo's services do: a mesh routes on them (`end-user`) and traces by them.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinSet;

use crate::reply::{EchoReply, UpstreamReply};

/// Headers copied from the incoming request to every upstream call: request id,
/// W3C and B3 trace context, and the user identity headers routes match on.
pub const PROPAGATED_HEADERS: &[&str] = &[
    "x-request-id",
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-ot-span-context",
    "grpc-trace-bin",
    "sw8",
    "end-user",
    "x-user",
    "user-agent",
    "cookie",
    "authorization",
];

/// The upstreams this workload calls, with a pooled HTTP/1.1 client.
#[derive(Debug, Clone)]
pub struct Upstreams {
    urls: Vec<Uri>,
    client: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

impl Upstreams {
    pub fn new(urls: Vec<Uri>, timeout: Duration) -> Upstreams {
        Upstreams {
            urls,
            client: Client::builder(TokioExecutor::new()).build_http(),
            timeout,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// Calls every upstream at once; the answers come back in the order configured.
    pub async fn call_all(&self, incoming: &HeaderMap) -> Vec<UpstreamReply> {
        let headers = propagated(incoming);
        let mut calls = JoinSet::new();
        for (index, url) in self.urls.iter().enumerate() {
            let (this, url, headers) = (self.clone(), url.clone(), headers.clone());
            calls.spawn(async move { (index, this.call(url, headers).await) });
        }
        let mut replies = Vec::with_capacity(self.urls.len());
        while let Some(done) = calls.join_next().await {
            if let Ok(reply) = done {
                replies.push(reply);
            }
        }
        replies.sort_by_key(|(index, _)| *index);
        replies.into_iter().map(|(_, reply)| reply).collect()
    }

    async fn call(&self, url: Uri, headers: HeaderMap) -> UpstreamReply {
        let started = Instant::now();
        let outcome = tokio::time::timeout(self.timeout, self.exchange(&url, headers)).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut reply = UpstreamReply {
            url: url.to_string(),
            status: None,
            reply: None,
            error: None,
            elapsed_ms,
        };
        match outcome {
            Err(_) => reply.error = Some(format!("no answer in {:?}", self.timeout)),
            Ok(Err(e)) => reply.error = Some(e),
            Ok(Ok((status, body))) => {
                reply.status = Some(status);
                match serde_json::from_slice::<EchoReply>(&body) {
                    Ok(echo) => reply.reply = Some(Box::new(echo)),
                    Err(_) => {
                        reply.error = Some(String::from_utf8_lossy(&body).trim().to_string());
                    }
                }
            }
        }
        reply
    }

    async fn exchange(&self, url: &Uri, headers: HeaderMap) -> Result<(u16, Bytes), String> {
        let mut request = Request::get(url.clone())
            .body(Empty::new())
            .map_err(|e| format!("bad upstream request {url}: {e}"))?;
        *request.headers_mut() = headers;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

/// The subset of `incoming` that is passed on ([`PROPAGATED_HEADERS`]).
pub fn propagated(incoming: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in PROPAGATED_HEADERS {
        for value in incoming.get_all(*name) {
            out.append(*name, value.clone());
        }
    }
    out
}

/// An `--upstream` URL: `http://host:port[/path]`; the error says what to write.
pub fn parse_upstream(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("--upstream {text}: {e}; write http://host:port[/path]"))?;
    if uri.scheme_str() != Some("http") || uri.authority().is_none() {
        return Err(format!(
            "--upstream {text}: write http://host:port[/path] (plain HTTP; the mesh adds TLS)"
        ));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn trace_and_user_headers_are_propagated_and_others_are_not() {
        let mut incoming = HeaderMap::new();
        incoming.insert("x-request-id", HeaderValue::from_static("abc"));
        incoming.insert("x-b3-traceid", HeaderValue::from_static("80f198ee56343ba8"));
        incoming.insert("traceparent", HeaderValue::from_static("00-1-2-01"));
        incoming.insert("end-user", HeaderValue::from_static("jason"));
        incoming.insert("host", HeaderValue::from_static("frontend"));
        incoming.insert("x-private", HeaderValue::from_static("secret"));
        let out = propagated(&incoming);
        assert_eq!(out.len(), 4);
        assert_eq!(
            out.get("end-user").map(HeaderValue::as_bytes),
            Some(&b"jason"[..])
        );
        assert!(out.get("host").is_none() && out.get("x-private").is_none());
    }

    #[test]
    fn upstreams_must_be_plain_http_urls() {
        assert!(parse_upstream("http://ratings:9080").is_ok());
        assert!(parse_upstream("http://ratings.bookinfo:9080/ratings/0").is_ok());
        assert!(parse_upstream("ratings:9080").is_err());
        assert!(parse_upstream("https://ratings:9443").is_err());
    }
}
