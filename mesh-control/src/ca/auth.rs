//! Who a gRPC caller is, and what it may be served as. A caller proves an identity
//! with a workload token (`authorization: Bearer …`) or, on the TLS port, with a
//! client certificate this CA issued (verified in the TLS handshake); the proxy node
//! it then claims to be must be that identity. On Kubernetes a caller may instead
//! send its pod's projected ServiceAccount token, which the API server reviews.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use mesh_api::identity::SpiffeId;
use tonic::Status;
use tonic::codegen::http;

use super::CertificateAuthority;
use super::issued::Credential;
use super::kube::token_review::{self, ReviewedToken, TokenReviewer};
use super::token::TokenError;
use crate::xds::node::ProxyNode;

/// The verified client certificate of a TLS connection, in every request's
/// extensions (tonic's `Connected` puts it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPeer {
    pub remote: Option<SocketAddr>,
    /// Absent when the client sent none.
    pub certificate: Option<PeerCertificate>,
}

/// What a verified client certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The SPIFFE ID, or why the certificate names none.
    pub identity: Result<SpiffeId, String>,
    /// Hex.
    pub serial: String,
}

/// A caller that proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub identity: SpiffeId,
    /// `NAME.NAMESPACE`, when a token named it.
    pub workload: Option<String>,
    pub credential: Credential,
    /// The client certificate's serial, when that was the credential.
    pub certificate_serial: Option<String>,
}

/// Checks the credentials of gRPC requests against one CA.
#[derive(Debug, Clone)]
pub struct Authenticator {
    ca: Arc<CertificateAuthority>,
    /// On Kubernetes: checks ServiceAccount tokens (those this CA did not sign).
    reviewer: Option<Arc<TokenReviewer>>,
}

/// What to send, in every "no credential" answer.
const SEND_A_CREDENTIAL: &str = "send gRPC metadata `authorization: Bearer <workload token>` (a \
     token from `meshctl token create`, given to the proxy with --token-file) or, on the TLS \
     port (15012), a client certificate issued by this control plane's CA";

impl Authenticator {
    pub fn new(ca: Arc<CertificateAuthority>) -> Authenticator {
        Authenticator { ca, reviewer: None }
    }

    /// Also accepts Kubernetes ServiceAccount tokens, checked by `reviewer`, through
    /// [`Authenticator::authenticate_request`]; workload tokens keep working.
    pub fn with_token_reviewer(mut self, reviewer: Arc<TokenReviewer>) -> Authenticator {
        self.reviewer = Some(reviewer);
        self
    }

    /// The caller of a request, as [`Authenticator::authenticate`] says, except that a
    /// bearer token this CA did not sign is reviewed by the Kubernetes API server
    /// when a reviewer is configured (a pod's projected ServiceAccount token).
    pub async fn authenticate_request(
        &self,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        now: SystemTime,
    ) -> Result<Caller, Status> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer);
        if let (Some(reviewer), Some(token)) = (&self.reviewer, token)
            && self.is_kubernetes_token(token, now)
        {
            let reviewed = reviewer
                .review(token, now)
                .await
                .map_err(|e| Status::unauthenticated(e.to_string()))?;
            return Ok(self.kubernetes_caller(reviewed));
        }
        self.authenticate(headers, extensions, now)
    }

    /// A JWT that this CA's token key did not sign (or not with ES256): not ours, so
    /// perhaps the API server's.
    fn is_kubernetes_token(&self, token: &str, now: SystemTime) -> bool {
        token_review::is_jwt(token)
            && matches!(
                self.ca.verify_token(token, now),
                Err(TokenError::BadSignature | TokenError::UnsupportedAlgorithm(_))
            )
    }

    fn kubernetes_caller(&self, reviewed: ReviewedToken) -> Caller {
        let identity = SpiffeId::new(
            self.ca.trust_domain(),
            &reviewed.namespace,
            &reviewed.service_account,
        );
        if let Some(uid) = reviewed.pod.as_ref().and_then(|p| p.uid.as_deref()) {
            tracing::debug!(%identity, pod_uid = uid, "a pod-bound ServiceAccount token");
        }
        Caller {
            identity,
            // A pod-bound token (every projected one) serves that pod only.
            workload: reviewed
                .pod
                .map(|pod| format!("{}.{}", pod.name, reviewed.namespace)),
            credential: Credential::Token,
            certificate_serial: None,
        }
    }

    pub fn ca(&self) -> &Arc<CertificateAuthority> {
        &self.ca
    }

    /// The caller of a request, from its `authorization` metadata or else its TLS
    /// client certificate. A bad token is refused even beside a good certificate:
    /// a caller says who it is once.
    pub fn authenticate(
        &self,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        now: SystemTime,
    ) -> Result<Caller, Status> {
        if let Some(value) = headers.get(http::header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(bearer).ok_or_else(|| {
                Status::unauthenticated(format!(
                    "the authorization metadata is not `Bearer <token>`; {SEND_A_CREDENTIAL}"
                ))
            })?;
            let verified = self
                .ca
                .verify_token(token, now)
                .map_err(|e| Status::unauthenticated(e.to_string()))?;
            return Ok(Caller {
                identity: verified.identity,
                workload: Some(verified.workload),
                credential: Credential::Token,
                certificate_serial: None,
            });
        }
        let certificate = extensions
            .get::<TlsPeer>()
            .and_then(|peer| peer.certificate.as_ref());
        let Some(certificate) = certificate else {
            return Err(Status::unauthenticated(format!(
                "no credential: {SEND_A_CREDENTIAL}"
            )));
        };
        let identity = certificate.identity.clone().map_err(|reason| {
            Status::unauthenticated(format!(
                "the client certificate proves no workload identity: {reason}; {SEND_A_CREDENTIAL}"
            ))
        })?;
        if identity.trust_domain != self.ca.trust_domain() {
            return Err(Status::unauthenticated(format!(
                "the client certificate's identity {identity} is not in this control plane's \
                 trust domain {:?}",
                self.ca.trust_domain()
            )));
        }
        Ok(Caller {
            identity,
            workload: None,
            credential: Credential::Certificate,
            certificate_serial: Some(certificate.serial.clone()),
        })
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `caller` may be served as `node`: the node id's namespace, the
/// `NAMESPACE` and `SERVICE_ACCOUNT` metadata, and for a token the pod name, must all
/// be the proven identity's.
pub fn authorize_node(caller: &Caller, node: &ProxyNode) -> Result<(), Status> {
    let proven = &caller.identity;
    // The node id was parsed already; its third field is `<pod>.<namespace>`.
    let (pod, id_namespace) = node
        .id
        .split('~')
        .nth(2)
        .and_then(|p| p.rsplit_once('.'))
        .unwrap_or(("", ""));
    let service_account = node.service_account.as_deref().unwrap_or("");
    let mut wrong = Vec::new();
    if id_namespace != proven.namespace {
        wrong.push(format!("namespace {id_namespace:?} in the node id"));
    }
    if node.namespace != proven.namespace && node.namespace != id_namespace {
        wrong.push(format!("NAMESPACE {:?}", node.namespace));
    }
    if service_account != proven.service_account {
        wrong.push(if service_account.is_empty() {
            "no SERVICE_ACCOUNT metadata".to_string()
        } else {
            format!("SERVICE_ACCOUNT {service_account:?}")
        });
    }
    let claimed_workload = format!("{pod}.{id_namespace}");
    if let Some(workload) = caller.workload.as_ref().filter(|w| **w != claimed_workload) {
        wrong.push(format!(
            "workload {claimed_workload:?} where the token names {workload:?}"
        ));
    }
    if wrong.is_empty() {
        return Ok(());
    }
    let claimed = format!(
        "spiffe://{}/ns/{}/sa/{}",
        proven.trust_domain,
        id_namespace,
        if service_account.is_empty() {
            "?"
        } else {
            service_account
        }
    );
    Err(Status::permission_denied(format!(
        "node {} claims {claimed} ({}) but the caller proved {proven}{}; a proxy is served \
         only as the identity it proved: set the node's namespace and SERVICE_ACCOUNT to \
         its own",
        node.id,
        wrong.join(", "),
        caller
            .workload
            .as_ref()
            .map(|w| format!(" as workload {w}"))
            .unwrap_or_default(),
    )))
}

#[cfg(test)]
mod tests;
