//! The JSON an HTTP answer carries, shared by the server and the client modes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one workload answered: who it is, what it received, what its upstreams said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoReply {
    pub name: String,
    pub version: String,
    pub namespace: String,
    pub pod: String,
    #[serde(default)]
    pub ip: String,
    /// `HTTP/1.1` or `HTTP/2.0`, as the server saw it.
    pub protocol: String,
    pub method: String,
    /// Path and query as received.
    pub path: String,
    /// Host (HTTP/1.1) or `:authority` (HTTP/2).
    pub host: String,
    /// The status this answer was sent with.
    pub status: u16,
    /// Request headers; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamReply>,
}

/// The outcome of calling one upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamReply {
    pub url: String,
    /// The upstream's status; `None` when no response arrived.
    #[serde(default)]
    pub status: Option<u16>,
    /// The upstream's answer when it was a sample app's JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Box<EchoReply>>,
    /// Why there is no answer, or the body when it was not a sample app's JSON (a
    /// proxy's own 503, for instance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl EchoReply {
    /// `name/version` of the workload that answered.
    pub fn workload(&self) -> String {
        format!("{}/{}", self.name, self.version)
    }

    /// The versions along the whole call chain, e.g.
    /// `frontend/v1 -> backend/v2 -> ratings/v1`; several upstreams are listed in
    /// brackets, a failed hop as `<url> <status|error>`.
    pub fn chain(&self) -> String {
        let mut chain = self.workload();
        match self.upstreams.as_slice() {
            [] => {}
            [one] => {
                chain.push_str(" -> ");
                chain.push_str(&one.chain());
            }
            many => {
                let hops: Vec<String> = many.iter().map(UpstreamReply::chain).collect();
                chain.push_str(&format!(" -> [{}]", hops.join(", ")));
            }
        }
        chain
    }
}

impl UpstreamReply {
    /// This hop and everything behind it (see [`EchoReply::chain`]).
    pub fn chain(&self) -> String {
        match (&self.reply, self.status) {
            (Some(reply), Some(status)) if status < 400 => reply.chain(),
            (Some(reply), Some(status)) => format!("{} {status}", reply.workload()),
            (None, Some(status)) => format!("{} {status}", self.url),
            (_, None) => format!("{} error", self.url),
        }
    }
}
