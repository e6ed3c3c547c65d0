//! The CA's debug endpoints: `POST /debug/tokens` mints a workload token (for a
//! local caller, or one holding the admin token: a token is an identity), and
//! `GET /debug/certificates` lists the certificates the CA issued.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode, header};
use mesh_api::debug::{DebugError, TokenRequest, path};

use super::{DebugBody, DebugResponse, error, ok};
use crate::ca::{CertificateAuthority, TokenRequestError};

/// A token request body is a few hundred bytes; refuse anything much larger.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the CA's endpoints read.
#[derive(Debug, Clone)]
pub struct IdentityEndpoints {
    ca: Arc<CertificateAuthority>,
    /// Grants tokens to callers that are not local.
    admin_token: Option<Arc<str>>,
}

impl IdentityEndpoints {
    pub fn new(ca: Arc<CertificateAuthority>, admin_token: Option<String>) -> IdentityEndpoints {
        IdentityEndpoints {
            ca,
            admin_token: admin_token.map(Arc::from),
        }
    }

    /// Reads the admin token from `--admin-token-file`.
    pub fn read_admin_token(file: &Path) -> anyhow::Result<String> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            anyhow::anyhow!(
                "cannot read --admin-token-file {}: {e}; write a long random secret there \
                 (e.g. `openssl rand -hex 32`)",
                file.display()
            )
        })?;
        let token = text.trim();
        if token.len() < 16 {
            anyhow::bail!(
                "--admin-token-file {}: the admin token is empty or shorter than 16 characters; \
                 write a long random secret there (e.g. `openssl rand -hex 32`)",
                file.display()
            );
        }
        Ok(token.to_string())
    }

    /// Whether `path` is one of these endpoints.
    pub fn serves(path: &str) -> bool {
        path == path::TOKENS || path == path::CERTIFICATES
    }

    /// Answers a request to one of these endpoints from `remote`.
    pub async fn respond(&self, request: Request<Incoming>, remote: SocketAddr) -> DebugResponse {
        match (request.uri().path(), request.method()) {
            (path::CERTIFICATES, &Method::GET | &Method::HEAD) => {
                ok(DebugBody::Certificates(self.ca.issued().view()))
            }
            (path::TOKENS, &Method::POST) => self.create_token(request, remote).await,
            (path, _) => error(
                StatusCode::METHOD_NOT_ALLOWED,
                DebugError::new(format!(
                    "{path} takes {}",
                    if path == path::TOKENS { "POST" } else { "GET" }
                )),
            ),
        }
    }

    async fn create_token(&self, request: Request<Incoming>, remote: SocketAddr) -> DebugResponse {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if let Err(refusal) = self.grant(remote, presented) {
            tracing::warn!(%remote, reason = %refusal.body_text(), "token request refused");
            return refusal;
        }
        let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    DebugError::new(format!(
                        "cannot read the request body (at most {MAX_BODY_BYTES} bytes): {e}"
                    )),
                );
            }
        };
        let token_request: TokenRequest = match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    DebugError::new(format!(
                        "the body is not a token request ({e}); send JSON \
                         {{\"workload\": \"NAME.NAMESPACE\", \"serviceAccount\": \"SA\", \
                         \"ttl\": \"24h\"}}"
                    )),
                );
            }
        };
        match self.ca.issue_token(&token_request, SystemTime::now()) {
            Ok(token) => {
                tracing::info!(
                    %remote,
                    workload = %token.workload,
                    identity = %token.identity,
                    expires = %token.expires_at,
                    "issued a workload token"
                );
                ok(DebugBody::Token(token))
            }
            Err(e @ TokenRequestError::Invalid { .. }) => {
                error(StatusCode::BAD_REQUEST, DebugError::new(e.to_string()))
            }
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                DebugError::new(e.to_string()),
            ),
        }
    }

    /// A loopback caller, or one with the admin token, may have tokens.
    fn grant(&self, remote: SocketAddr, presented: Option<&str>) -> Result<(), DebugResponse> {
        match (presented, self.admin_token.as_deref()) {
            (Some(presented), Some(admin)) => {
                if constant_time_eq(presented.as_bytes(), admin.as_bytes()) {
                    Ok(())
                } else {
                    Err(error(
                        StatusCode::UNAUTHORIZED,
                        DebugError::new(
                            "the bearer token is not the admin token of --admin-token-file",
                        ),
                    ))
                }
            }
            _ if remote.ip().to_canonical().is_loopback() => Ok(()),
            _ => Err(error(
                StatusCode::FORBIDDEN,
                DebugError::new(format!(
                    "{} is granted to local callers only, or to callers sending \
                     `Authorization: Bearer <admin token>` (mesh-control --admin-token-file); \
                     run meshctl on the control plane's host, or pass it the admin token",
                    path::TOKENS
                )),
            )),
        }
    }
}

impl DebugResponse {
    fn body_text(&self) -> String {
        match &self.body {
            DebugBody::Error(e) => e.error.clone(),
            _ => String::new(),
        }
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints(admin_token: Option<&str>) -> IdentityEndpoints {
        let ca = Arc::new(crate::ca::testing::test_ca());
        IdentityEndpoints::new(ca, admin_token.map(str::to_string))
    }

    #[test]
    fn tokens_are_granted_to_local_callers_and_admin_token_holders_only() {
        let local: SocketAddr = "127.0.0.1:4000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        let remote: SocketAddr = "10.0.0.7:4000".parse().unwrap();
        let open = endpoints(None);
        assert!(open.grant(local, None).is_ok());
        assert!(open.grant(mapped, None).is_ok());
        let refused = open.grant(remote, None).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.body_text().contains("--admin-token-file"));
        // With an admin token configured, a remote caller holding it may.
        let admin = endpoints(Some("0123456789abcdef0123"));
        assert!(admin.grant(remote, Some("0123456789abcdef0123")).is_ok());
        let wrong = admin
            .grant(remote, Some("0123456789abcdef0124"))
            .unwrap_err();
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            admin.grant(remote, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        // A token when none is configured grants nothing more than the address does.
        assert!(open.grant(remote, Some("anything")).is_err());
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }
}
