//! A small blocking HTTP/1.1 GET client for the control plane's debug endpoint (JSON
//! on 127.0.0.1:15014 by default). meshctl needs one request per command, so plain
//! `std::net` is enough: no async runtime.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;

/// How long to wait for the control plane to connect and to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where the control plane's debug endpoint is.
#[derive(Debug, Clone, Args)]
pub(crate) struct ControlPlaneArgs {
    /// The control plane's debug endpoint (mesh-control --debug-address).
    #[arg(
        long,
        env = "MESH_CONTROL_PLANE",
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:15014"
    )]
    pub(crate) control_plane: String,
}

/// A reply: status code and JSON body.
#[derive(Debug)]
pub(crate) struct DebugReply {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl ControlPlaneArgs {
    /// `GET path` on the debug endpoint, parsed as JSON (any status).
    pub(crate) fn get(&self, path: &str) -> anyhow::Result<DebugReply> {
        let address = self
            .control_plane
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let unreachable = || {
            format!(
                "cannot reach the control plane debug endpoint at {address}; is mesh-control \
                 running? pass --control-plane HOST:PORT (or set MESH_CONTROL_PLANE)"
            )
        };
        let addrs: Vec<SocketAddr> = address
            .to_socket_addrs()
            .with_context(unreachable)?
            .collect();
        let mut stream = connect(&addrs).with_context(unreachable)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: application/json\r\n\
             User-Agent: meshctl/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .with_context(unreachable)?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .with_context(|| format!("reading the answer of {address}{path}"))?;
        let (status, body) = parse_response(&raw)
            .with_context(|| format!("{address}{path} did not answer with HTTP/1.1"))?;
        let body = serde_json::from_slice(&body).with_context(|| {
            format!(
                "{address}{path} answered {status} without JSON; is {address} mesh-control's \
                 --debug-address (not its xDS port)?"
            )
        })?;
        Ok(DebugReply { status, body })
    }
}

fn connect(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(addr, TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Splits a whole HTTP/1.1 response into status and body (decoding chunked bodies).
fn parse_response(raw: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        bail!("no end of headers in {} bytes", raw.len());
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    let chunked = lines.any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
        })
    });
    let body = if chunked {
        decode_chunked(body)?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn decode_chunked(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&body[..end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("bad chunk size {size_text:?}"))?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).context("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).unwrap_or_default();
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
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain).unwrap(), (200, b"[]".to_vec()));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (404, b"{\"a\":1}".to_vec())
        );
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn unreachable_control_plane_says_what_to_do() {
        // Port 1 on localhost: nothing listens there.
        let args = ControlPlaneArgs {
            control_plane: "127.0.0.1:1".to_string(),
        };
        let err = format!("{:#}", args.get("/debug/syncz").unwrap_err());
        assert!(
            err.contains("cannot reach the control plane debug endpoint at 127.0.0.1:1"),
            "{err}"
        );
        assert!(err.contains("--control-plane"), "{err}");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value("sidecar~10.0.0.1~a.b~b.svc.cluster.local"),
            "sidecar~10.0.0.1~a.b~b.svc.cluster.local"
        );
        assert_eq!(encode_query_value("a b&c"), "a%20b%26c");
    }
}
