//! The control plane's debug endpoint (JSON on 127.0.0.1:15014 by default), read into
//! the types of `mesh_api::debug` that mesh-control writes it from. meshctl is
//! otherwise synchronous: each request runs hyper's HTTP/1.1 client on a
//! current-thread tokio runtime made for it.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use clap::Args;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use mesh_api::debug::DebugError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use tokio::net::TcpStream;

use crate::cluster::ClusterArgs;
use crate::port_forward::{self, StartError, Target};

/// mesh-control's debug port in the chart (`http-monitoring`).
const DEBUG_PORT: u16 = 15014;

/// How long to wait for the control plane to connect, and then to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where mesh-control's debug endpoint is when neither a flag nor a cluster says.
const LOCAL_CONTROL_PLANE: &str = "127.0.0.1:15014";

/// Where the control plane's debug endpoint is.
#[derive(Debug, Clone, Args)]
pub(crate) struct ControlPlaneArgs {
    /// The control plane's debug endpoint (mesh-control --debug-address). Default:
    /// a port-forward to a mesh-control pod when a cluster is configured
    /// (kubeconfig), else 127.0.0.1:15014.
    #[arg(long, env = "MESH_CONTROL_PLANE", value_name = "HOST:PORT")]
    pub(crate) control_plane: Option<String>,
}

/// A client of one control plane's debug endpoint.
#[derive(Debug, Clone)]
pub(crate) struct DebugClient {
    /// `HOST:PORT`.
    address: String,
    timeout: Duration,
    /// Sent as `Authorization: Bearer …` (the control plane's admin token).
    bearer: Option<String>,
    /// What messages call the endpoint: the address, or the pod behind a port-forward.
    shown: String,
}

/// What came back, before it is read.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Bytes,
}

impl ControlPlaneArgs {
    /// The flag's endpoint; else, with a cluster configured, a port-forward to a
    /// mesh-control pod's 15014; else (or when that fails, said on stderr) the
    /// local default, as before meshctl knew clusters.
    pub(crate) fn client(&self, cluster: &ClusterArgs) -> anyhow::Result<DebugClient> {
        if let Some(address) = &self.control_plane {
            return Ok(DebugClient::new(address, TIMEOUT));
        }
        if cluster.configured() {
            match port_forward::start(cluster, Target::ControlPlane, DEBUG_PORT) {
                Ok(forward) => {
                    let mut client = DebugClient::new(&forward.address.to_string(), TIMEOUT);
                    client.shown = format!("pod {} (port-forward)", forward.pod);
                    return Ok(client);
                }
                Err(StartError::Unusable(e)) => eprintln!(
                    "note: no port-forward to mesh-control ({e:#}); trying {LOCAL_CONTROL_PLANE}"
                ),
                Err(StartError::Failed(e)) => {
                    return Err(e.context(
                        "cannot reach mesh-control through the cluster; check the pod \
                         (`kubectl -n NS describe pod`), or pass --control-plane HOST:PORT",
                    ));
                }
            }
        }
        Ok(DebugClient::new(LOCAL_CONTROL_PLANE, TIMEOUT))
    }
}

impl DebugClient {
    /// `address` is `HOST:PORT`, with or without `http://` and a trailing `/`.
    pub(crate) fn new(address: &str, timeout: Duration) -> DebugClient {
        let address = address.strip_prefix("http://").unwrap_or(address);
        let address = address.trim_end_matches('/').to_string();
        DebugClient {
            shown: address.clone(),
            address,
            timeout,
            bearer: None,
        }
    }

    /// Sends `token` as `Authorization: Bearer <token>` with every request.
    pub(crate) fn with_bearer(mut self, token: String) -> DebugClient {
        self.bearer = Some(token);
        self
    }

    /// The endpoint as messages name it.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// `GET path_and_query`, read as a `T`. Any status but 200 is an error that says
    /// what the control plane said.
    pub(crate) fn get<T: DeserializeOwned>(&self, path_and_query: &str) -> anyhow::Result<T> {
        let answer = self.block_on(self.exchange(Method::GET, path_and_query, None))??;
        self.read(path_and_query, &answer)
    }

    /// `POST path` with `body` as JSON, the answer read as a `T`, as [`Self::get`].
    pub(crate) fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let json = serde_json::to_vec(body).context("cannot write the request as JSON")?;
        let answer = self.block_on(self.exchange(Method::POST, path, Some(json)))??;
        self.read(path, &answer)
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> anyhow::Result<F::Output> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .context("cannot start meshctl's HTTP client")?;
        Ok(runtime.block_on(future))
    }

    /// One request on a connection of its own.
    async fn exchange(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Answer> {
        let address = &self.address;
        let endpoint = format!("{address}{path_and_query}");
        let unreachable = || {
            format!(
                "cannot reach the control plane debug endpoint at {address}; is mesh-control \
                 running? pass --control-plane HOST:PORT (or set MESH_CONTROL_PLANE)"
            )
        };
        let connect = tokio::time::timeout(self.timeout, TcpStream::connect(address.as_str()));
        let stream = match connect.await {
            Ok(connected) => connected.with_context(unreachable)?,
            Err(_) => {
                let elapsed = anyhow!("no connection within {:?}", self.timeout);
                return Err(elapsed.context(unreachable()));
            }
        };
        let not_http = || {
            format!(
                "{endpoint} did not answer with HTTP/1.1; is {address} mesh-control's \
                 --debug-address (not its xDS port)?"
            )
        };
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .with_context(not_http)?;
        // The connection's I/O runs beside the request, on this runtime's one thread.
        tokio::spawn(connection);
        let mut request = Request::builder().method(method).uri(path_and_query);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(token) = &self.bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .header(header::HOST, address.as_str())
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("meshctl/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .with_context(|| format!("{path_and_query:?} is not a request path"))?;
        let answer = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| {
                anyhow!(
                    "{endpoint} did not answer within {:?}; is {address} mesh-control's \
                     --debug-address?",
                    self.timeout
                )
            })?
            .with_context(not_http)
    }

    /// The answer's body as a `T`, or the control plane's error as ours.
    fn read<T: DeserializeOwned>(
        &self,
        path_and_query: &str,
        answer: &Answer,
    ) -> anyhow::Result<T> {
        let unreadable = |e| self.unreadable(path_and_query, answer, e);
        if answer.status != StatusCode::OK {
            let error: DebugError = serde_json::from_slice(&answer.body).map_err(unreadable)?;
            bail!(describe(&error));
        }
        serde_json::from_slice(&answer.body).map_err(unreadable)
    }

    /// Says which endpoint answered what, and the likely reason.
    fn unreadable(
        &self,
        path_and_query: &str,
        answer: &Answer,
        e: serde_json::Error,
    ) -> anyhow::Error {
        let (address, status) = (&self.address, answer.status);
        let endpoint = format!("{address}{path_and_query}");
        let body = excerpt(&answer.body);
        if e.classify() == Category::Data {
            anyhow!(
                "{endpoint} answered {status} with JSON meshctl cannot read ({e}): {body}; are \
                 meshctl ({}) and mesh-control the same version? (`curl {endpoint}` shows the \
                 whole answer)",
                env!("CARGO_PKG_VERSION"),
            )
        } else {
            anyhow!(
                "{endpoint} answered {status} without JSON ({e}): {body}; is {address} \
                 mesh-control's --debug-address (not its xDS port)?"
            )
        }
    }
}

/// The control plane's error, with the names it offers instead.
fn describe(error: &DebugError) -> String {
    let mut text = error.error.clone();
    for (heading, names) in [
        ("connected proxies", &error.known_proxies),
        ("endpoints", &error.endpoints),
    ] {
        if let Some(names) = names.as_ref().filter(|n| !n.is_empty()) {
            text.push_str(&format!("\n{heading}:\n  {}", names.join("\n  ")));
        }
    }
    text
}

/// The start of a body, on one line, for an error message.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "an empty body".to_string();
    }
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Percent-encodes a query parameter value (node ids hold `~`, which is safe, and
/// nothing else unusual, but a user may type anything).
pub(crate) fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests;
