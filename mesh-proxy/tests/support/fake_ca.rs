//! A fake control plane CA for the integration tests: hyper's HTTP/2 server over
//! rustls on 127.0.0.1, serving `CreateCertificate` by hand (gRPC framing, prost)
//! and signing CSRs with rcgen as mesh-control's CA does. It records who called
//! (path, bearer token, client certificate's SPIFFE ID), can be taken down and
//! brought back, and answers every other path UNIMPLEMENTED.

#![allow(dead_code)] // Each test crate uses a part of it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mesh_api::certificate_service::{
    CREATE_CERTIFICATE_PATH, IstioCertificateRequest, IstioCertificateResponse,
};
use prost::Message as _;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// One call the CA saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    /// The SPIFFE ID of the client certificate, if one was presented.
    pub(crate) client_identity: Option<String>,
}

/// A running fake CA.
pub(crate) struct FakeCa {
    pub(crate) address: SocketAddr,
    pub(crate) root_pem: String,
    state: Arc<State>,
}

struct State {
    issuer: Issuer<'static, KeyPair>,
    root_pem: String,
    token: Mutex<String>,
    up: AtomicBool,
    seen: Mutex<Vec<Seen>>,
}

type Body = StreamBody<tokio_stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

impl FakeCa {
    /// Starts a CA on 127.0.0.1 that accepts `Bearer <token>` or a certificate it issued.
    pub(crate) async fn start(token: &str) -> FakeCa {
        let root_key = KeyPair::generate().expect("a key");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "fake mesh root");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root = params.self_signed(&root_key).expect("self-signs");
        let issuer = Issuer::new(params, root_key);
        // The serving certificate: for the IP address the proxy dials.
        let serving_key = KeyPair::generate().expect("a key");
        let mut serving = CertificateParams::default();
        serving.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &issuer).expect("signs");
        let mut roots = RootCertStore::empty();
        roots.add(root.der().clone()).expect("a root");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), mesh_tls::provider())
                .allow_unauthenticated()
                .build()
                .expect("a verifier");
        let mut config = ServerConfig::builder_with_provider(mesh_tls::provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![serving_cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(serving_key.serialize_der())),
            )
            .expect("a server config");
        config.alpn_protocols = vec![b"h2".to_vec()];
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("an address");
        let state = Arc::new(State {
            issuer,
            root_pem: root.pem(),
            token: Mutex::new(token.to_string()),
            up: AtomicBool::new(true),
            seen: Mutex::default(),
        });
        tokio::spawn(serve(
            listener,
            TlsAcceptor::from(Arc::new(config)),
            state.clone(),
        ));
        FakeCa {
            address,
            root_pem: root.pem(),
            state,
        }
    }

    /// The root in a PEM file (what `--root-cert` names).
    pub(crate) fn root_file(&self, dir: &std::path::Path) -> PathBuf {
        let path = dir.join("root-cert.pem");
        std::fs::write(&path, &self.root_pem).expect("writes the root");
        path
    }

    pub(crate) fn set_up(&self, up: bool) {
        self.state.up.store(up, Ordering::SeqCst);
    }

    pub(crate) fn set_token(&self, token: &str) {
        *self.state.token.lock().expect("lock") = token.to_string();
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("lock").clone()
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, state: Arc<State>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let client_identity = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|leaf| mesh_tls::identity_of(leaf).ok())
                .map(|id| id.to_string());
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                let client_identity = client_identity.clone();
                async move { Ok::<_, Infallible>(handle(&state, req, client_identity).await) }
            });
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

async fn handle(
    state: &State,
    req: Request<Incoming>,
    client_identity: Option<String>,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.seen.lock().expect("lock").push(Seen {
        path: path.clone(),
        authorization: authorization.clone(),
        client_identity: client_identity.clone(),
    });
    if path != CREATE_CERTIFICATE_PATH {
        return status(12, "not served by the fake CA");
    }
    if !state.up.load(Ordering::SeqCst) {
        return status(14, "the fake CA is down");
    }
    let token = format!("Bearer {}", state.token.lock().expect("lock"));
    if authorization.as_deref() != Some(token.as_str()) && client_identity.is_none() {
        return status(16, "no valid token or client certificate");
    }
    let Ok(body) = req.into_body().collect().await else {
        return status(13, "cannot read the request");
    };
    let body = body.to_bytes();
    let Some(message) = body.get(5..) else {
        return status(13, "no gRPC frame");
    };
    let Ok(request) = IstioCertificateRequest::decode(message) else {
        return status(13, "not an IstioCertificateRequest");
    };
    let Ok(mut csr) = CertificateSigningRequestParams::from_pem(&request.csr) else {
        return status(3, "not a CSR");
    };
    let now = SystemTime::now();
    let at = |t: SystemTime| {
        rcgen::date_time_ymd(1970, 1, 1)
            + t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default()
    };
    let ttl = Duration::from_secs(u64::try_from(request.validity_duration).unwrap_or(3600));
    csr.params.not_before = at(now - Duration::from_secs(60));
    csr.params.not_after = at(now + ttl);
    csr.params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    csr.params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let Ok(leaf) = csr.signed_by(&state.issuer) else {
        return status(13, "cannot sign");
    };
    let response = IstioCertificateResponse {
        cert_chain: vec![leaf.pem(), state.root_pem.clone()],
    };
    let encoded = response.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(encoded.len()).unwrap_or(0).to_be_bytes());
    frame.extend_from_slice(&encoded);
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
    let frames = vec![
        Ok(Frame::data(Bytes::from(frame))),
        Ok(Frame::trailers(trailers)),
    ];
    grpc_response(frames)
}

/// A trailers-only gRPC answer.
fn status(code: u32, message: &str) -> Response<Body> {
    let mut response = grpc_response(Vec::new());
    let headers = response.headers_mut();
    headers.insert("grpc-status", code.into());
    if let Ok(message) = message.parse() {
        headers.insert("grpc-message", message);
    }
    response
}

fn grpc_response(frames: Vec<Result<Frame<Bytes>, Infallible>>) -> Response<Body> {
    let mut response = Response::new(StreamBody::new(tokio_stream::iter(frames)));
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/grpc"),
    );
    response
}
