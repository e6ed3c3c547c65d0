//! The kubelet's gRPC probe: `grpc.health.v1.Health/Check` over plaintext HTTP/2,
//! healthy when the answer is `SERVING`. The two messages are one optional field
//! each, so they are encoded here rather than generated.

use std::net::SocketAddr;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: u64 = 1;

/// `Ok(200)` when the app's health service answers SERVING for `service`, `Ok(503)`
/// for any other answer; `Err` when there is no gRPC answer at all.
pub(super) async fn check(
    stream: TcpStream,
    target: SocketAddr,
    service: &str,
) -> Result<StatusCode, String> {
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/2 to {target}: {e}"))?;
    tokio::spawn(connection);
    let request = Request::post(format!("http://{target}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(frame(&request_message(service))))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Err(format!("gRPC answered HTTP {}", parts.status));
    }
    let collected = body.collect().await.map_err(|e| e.to_string())?;
    // The status is a trailer, or a header in a trailers-only answer.
    let grpc_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .or_else(|| parts.headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if grpc_status != "0" {
        return Ok(StatusCode::SERVICE_UNAVAILABLE);
    }
    let status = serving_status(&collected.to_bytes());
    Ok(if status == Some(SERVING) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    })
}

/// `HealthCheckRequest { service = 1 }`; an empty service is the server's overall
/// health, and proto3 leaves the empty field out.
fn request_message(service: &str) -> Vec<u8> {
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a);
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    message
}

/// The gRPC length-prefixed message: uncompressed flag, 4-byte length, message.
fn frame(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(message);
    Bytes::from(out)
}

/// `HealthCheckResponse.status` (field 1, varint) out of one framed message; other
/// fields are skipped as proto3 readers do. An empty message is UNKNOWN (0).
fn serving_status(body: &[u8]) -> Option<u64> {
    let message = body.get(5..)?;
    let mut rest = message;
    let mut status = 0;
    while let Some((&tag, tail)) = rest.split_first() {
        rest = tail;
        match tag & 0x07 {
            0 => {
                let (value, tail) = varint(rest)?;
                rest = tail;
                if tag >> 3 == 1 {
                    status = value;
                }
            }
            2 => {
                let (len, tail) = varint(rest)?;
                rest = tail.get(usize::try_from(len).ok()?..)?;
            }
            _ => return None,
        }
    }
    Some(status)
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_proto3() {
        assert_eq!(request_message(""), Vec::<u8>::new());
        assert_eq!(request_message("db"), vec![0x0a, 2, b'd', b'b']);
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 1]), Some(SERVING));
        assert_eq!(serving_status(&[0, 0, 0, 0, 0]), Some(0), "UNKNOWN");
        assert_eq!(
            serving_status(&[0, 0, 0, 0, 2, 0x08, 2]),
            Some(2),
            "NOT_SERVING"
        );
    }
}
