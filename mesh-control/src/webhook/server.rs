//! The webhooks' HTTPS server (15017): the API server calls it with AdmissionReviews.
//! Its certificate is the control plane's serving certificate, whose CA the
//! `caBundle` of both webhook configurations names (see [`super::ca_bundle`]).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use rustls::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Webhooks;
use crate::ca::tls::ServingCertificate;

/// Largest review accepted: the API server's request limit for objects is 3 MiB.
const MAX_REVIEW_BYTES: usize = 4 * 1024 * 1024;

/// TLS for the API server's calls: the serving certificate, no client certificate.
pub fn tls_config(serving: Arc<ServingCertificate>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(mesh_tls::provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(serving);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    webhooks: Arc<Webhooks>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        let acceptor = acceptor.clone();
        let webhooks = webhooks.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%peer, %error, "webhook TLS handshake failed");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |request| {
                let webhooks = webhooks.clone();
                async move { Ok::<_, Infallible>(handle(&webhooks, request).await) }
            });
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "webhook connection ended");
            }
        });
    }
}

async fn handle(webhooks: &Webhooks, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    match (request.method(), path.as_str()) {
        (&Method::GET, "/ready" | "/healthz/ready") => text(StatusCode::OK, "ok"),
        (&Method::POST, "/validate" | "/inject") => {
            let body = match Limited::new(request.into_body(), MAX_REVIEW_BYTES)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("cannot read the review: {e}"),
                    );
                }
            };
            let review: AdmissionReview<DynamicObject> = match serde_json::from_slice(&body) {
                Ok(review) => review,
                Err(e) => {
                    return reply(AdmissionResponse::invalid(format!(
                        "not an AdmissionReview: {e}"
                    )));
                }
            };
            let request: AdmissionRequest<DynamicObject> = match review.try_into() {
                Ok(request) => request,
                Err(e) => return reply(AdmissionResponse::invalid(e.to_string())),
            };
            let response = if path == "/validate" {
                super::validate::review(&request)
            } else {
                webhooks.inject(&request)
            };
            reply(response)
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "the webhooks are POST /inject and POST /validate",
        ),
    }
}

fn reply(response: AdmissionResponse) -> Response<Full<Bytes>> {
    match serde_json::to_vec(&response.into_review()) {
        Ok(body) => Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_else(|_| {
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot build the response",
                )
            }),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the review: {e}"),
        ),
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}
