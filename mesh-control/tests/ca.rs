//! The CA over real sockets on 127.0.0.1: CreateCertificate and ADS on the
//! plaintext port (15010's role) and the TLS port (15012's), with tonic clients over
//! tokio-rustls as a proxy dials them. Every refusal here must fail closed.

// Helpers outside `#[test]` functions panic on purpose: a failure is the test's.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use hyper_util::rt::TokioIo;
use mesh_api::certificate_service::{
    CREATE_CERTIFICATE_PATH, IstioCertificateRequest, IstioCertificateResponse,
};
use mesh_api::debug::TokenRequest;
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_control::ca::auth::Authenticator;
use mesh_control::ca::host_addresses::serving_names;
use mesh_control::ca::tls::{self, ServingCertificate};
use mesh_control::ca::{
    CaConfig, CaKeyType, Caller, CertificateAuthority, CertificateService, Credential,
    LifetimePolicy,
};
use mesh_control::config::ConfigSnapshot;
use mesh_control::xds::node::ProxyNode;
use mesh_control::xds::resources::ProxyResources;
use mesh_control::xds::server::AdsServer;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{Service, http};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

const WEB: &str = "spiffe://cluster.local/ns/shop/sa/web";

/// A control plane with its CA in a temporary `--ca-dir`.
struct ControlPlane {
    ca: Arc<CertificateAuthority>,
    plaintext: SocketAddr,
    tls: SocketAddr,
    _ca_dir: tempfile::TempDir,
    _config: watch::Sender<Arc<ConfigSnapshot>>,
}

/// A workload's key and the chain the CA gave it.
struct Issued {
    key: KeyPair,
    chain: Vec<CertificateDer<'static>>,
}

async fn control_plane() -> ControlPlane {
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = Arc::new(open_ca(ca_dir.path()));
    let (config, config_rx) = watch::channel(Arc::new(ConfigSnapshot {
        version: 1,
        model: Arc::new(MeshModel::build(
            std::iter::empty(),
            MeshSettings::default(),
        )),
        errors: Vec::new(),
        changes: Default::default(),
    }));
    let ads = AdsServer::with_translator(
        config_rx,
        Duration::from_millis(10),
        Arc::new(|_: &MeshModel, _: &ProxyNode| ProxyResources::default()),
    );
    let auth = Authenticator::new(ca.clone());
    let certificates = CertificateService::new(auth.clone());

    let plaintext = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plaintext_address = plaintext.local_addr().unwrap();
    tokio::spawn(ads.clone().serve_incoming(
        ads.service(),
        Some(certificates.clone()),
        tonic::transport::server::TcpIncoming::from(plaintext),
        std::future::pending(),
    ));

    let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_address = tls_listener.local_addr().unwrap();
    let names = serving_names(tls_address, &[], "mesh-system");
    let serving =
        Arc::new(ServingCertificate::issue(&ca, names, Duration::from_secs(3600)).unwrap());
    let tls_config = tls::server_config(&ca, serving).unwrap();
    tokio::spawn(ads.clone().serve_incoming(
        ads.authenticated_service(auth),
        Some(certificates),
        tls::incoming(tls_listener, tls_config),
        std::future::pending(),
    ));
    ControlPlane {
        ca,
        plaintext: plaintext_address,
        tls: tls_address,
        _ca_dir: ca_dir,
        _config: config,
    }
}

fn open_ca(dir: &std::path::Path) -> CertificateAuthority {
    CertificateAuthority::open(&CaConfig {
        dir: dir.to_path_buf(),
        trust_domain: "cluster.local".into(),
        key_type: CaKeyType::EcdsaP256,
        lifetimes: LifetimePolicy {
            default: Duration::from_secs(24 * 3600),
            max: Duration::from_secs(90 * 24 * 3600),
        },
    })
    .unwrap()
}

impl ControlPlane {
    fn token(&self, workload: &str, service_account: &str) -> String {
        self.token_at(workload, service_account, SystemTime::now())
    }

    fn token_at(&self, workload: &str, service_account: &str, now: SystemTime) -> String {
        let request = TokenRequest {
            workload: workload.into(),
            service_account: service_account.into(),
            ttl: Some("1h".into()),
        };
        self.ca.issue_token(&request, now).unwrap().token
    }

    fn roots(&self) -> Vec<CertificateDer<'static>> {
        self.ca.authority().bundle().roots().to_vec()
    }

    async fn plaintext_channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.plaintext))
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    /// A channel to the TLS port, verifying the server by its IP against the roots,
    /// presenting `client` if given.
    async fn tls_channel(
        &self,
        client: Option<&Issued>,
    ) -> Result<Channel, tonic::transport::Error> {
        let connector = TlsConnector::new(self.roots(), client);
        Endpoint::from_shared(format!("http://{}", self.tls))
            .unwrap()
            .connect_with_connector(connector)
            .await
    }

    /// Gets a certificate for `identity` with a token for `workload`/`sa`.
    async fn certificate(&self, workload: &str, sa: &str) -> Issued {
        let key = KeyPair::generate().unwrap();
        let token = self.token(workload, sa);
        let identity = format!("spiffe://cluster.local/ns/shop/sa/{sa}");
        let channel = self.tls_channel(None).await.unwrap();
        let response = create_certificate(channel, Some(&token), &csr(&key, &identity), 3600)
            .await
            .unwrap();
        Issued {
            key,
            chain: chain_of(&response),
        }
    }
}

fn csr(key: &KeyPair, identity: &str) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names = vec![SanType::URI(identity.try_into().unwrap())];
    params.serialize_request(key).unwrap().pem().unwrap()
}

async fn create_certificate(
    channel: Channel,
    token: Option<&str>,
    csr: &str,
    validity: i64,
) -> Result<IstioCertificateResponse, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(IstioCertificateRequest {
        csr: csr.to_string(),
        validity_duration: validity,
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    grpc.unary(
        request,
        PathAndQuery::from_static(CREATE_CERTIFICATE_PATH),
        tonic_prost::ProstCodec::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

fn node(pod: &str, namespace: &str, service_account: &str) -> Node {
    let string = |s: &str| Value {
        kind: Some(Kind::StringValue(s.into())),
    };
    Node {
        id: ProxyNode::sidecar_id("10.0.0.5", pod, namespace),
        metadata: Some(Struct {
            fields: [("SERVICE_ACCOUNT".to_string(), string(service_account))].into(),
        }),
        ..Default::default()
    }
}

/// Opens an ADS stream as `node` and waits for the first response (or the refusal).
async fn ads(channel: Channel, token: Option<&str>, node: Node) -> Result<(), Status> {
    let (tx, rx) = mpsc::channel(4);
    tx.send(DiscoveryRequest {
        node: Some(node),
        type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let mut client = AggregatedDiscoveryServiceClient::new(channel);
    let mut responses = client
        .stream_aggregated_resources(request)
        .await?
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), responses.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no first response"))??;
    assert!(
        first.is_some(),
        "the stream ended before its first response"
    );
    drop(tx);
    Ok(())
}

#[tokio::test]
async fn a_good_token_gets_a_certificate_for_its_identity_that_verifies_against_the_root() {
    let cp = control_plane().await;
    let key = KeyPair::generate().unwrap();
    let token = cp.token("web-1.shop", "web");
    for channel in [
        cp.plaintext_channel().await,
        cp.tls_channel(None).await.unwrap(),
    ] {
        let response = create_certificate(channel, Some(&token), &csr(&key, WEB), 600)
            .await
            .unwrap();
        let chain = chain_of(&response);
        assert_eq!(chain.len(), 2, "leaf and root");
        assert_eq!(chain.last(), cp.roots().first(), "root last");
        assert_eq!(mesh_tls::identity_of(&chain[0]).unwrap().to_string(), WEB);
        let info = mesh_tls::CertificateInfo::parse(&chain[0]).unwrap();
        assert_eq!(info.remaining(SystemTime::now()).as_secs().div_ceil(60), 10);
        cp.ca
            .authority()
            .bundle()
            .verify(
                &chain,
                SystemTime::now(),
                mesh_control::ca::trust::Usage::Client,
            )
            .unwrap();
    }
    let issued = cp.ca.issued().view();
    assert_eq!(issued.workloads.len(), 1);
    assert_eq!(issued.workloads[0].workload, "web-1.shop");
    assert_eq!(issued.workloads[0].certificates.len(), 2);
}

#[tokio::test]
async fn a_csr_for_another_identity_is_refused_saying_why() {
    let cp = control_plane().await;
    let key = KeyPair::generate().unwrap();
    let token = cp.token("web-1.shop", "web");
    let admin = "spiffe://cluster.local/ns/shop/sa/admin";
    let status = create_certificate(
        cp.tls_channel(None).await.unwrap(),
        Some(&token),
        &csr(&key, admin),
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains(&format!("asks for {admin} but the caller proved {WEB}")),
        "{status:?}"
    );
    assert!(cp.ca.issued().view().workloads.is_empty());
}

#[tokio::test]
async fn no_credential_expired_and_tampered_tokens_are_refused() {
    let cp = control_plane().await;
    let key = KeyPair::generate().unwrap();
    let csr = csr(&key, WEB);
    let status = create_certificate(cp.plaintext_channel().await, None, &csr, 0)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("authorization: Bearer"),
        "{status:?}"
    );

    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let expired = cp.token_at("web-1.shop", "web", two_hours_ago);
    let status = create_certificate(cp.plaintext_channel().await, Some(&expired), &csr, 0)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("expired at"), "{status:?}");

    // Another service account in the claims, the signature left as it was.
    let token = cp.token("web-1.shop", "web");
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = String::from_utf8(b64.decode(parts[1]).unwrap()).unwrap();
    let forged = b64.encode(claims.replace("/sa/web", "/sa/admin"));
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    let admin_csr = self::csr(&key, "spiffe://cluster.local/ns/shop/sa/admin");
    let status = create_certificate(
        cp.tls_channel(None).await.unwrap(),
        Some(&tampered),
        &admin_csr,
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("signature does not verify"),
        "{status:?}"
    );
    // The same on ADS.
    let status = ads(
        cp.tls_channel(None).await.unwrap(),
        Some(&tampered),
        node("web-1", "shop", "admin"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn ads_on_the_tls_port_serves_a_proxy_only_as_the_identity_it_proved() {
    let cp = control_plane().await;
    let token = cp.token("web-1.shop", "web");
    // With the token: its own node is served; another pod, namespace or account is not.
    ads(
        cp.tls_channel(None).await.unwrap(),
        Some(&token),
        node("web-1", "shop", "web"),
    )
    .await
    .unwrap();
    for (node, claimed) in [
        (node("db-1", "shop", "web"), "workload \"db-1.shop\""),
        (node("web-1", "bank", "web"), "namespace \"bank\""),
        (node("web-1", "shop", "admin"), "SERVICE_ACCOUNT \"admin\""),
    ] {
        let status = ads(cp.tls_channel(None).await.unwrap(), Some(&token), node)
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(status.message().contains(claimed), "{status:?}");
        assert!(
            status
                .message()
                .contains(&format!("the caller proved {WEB}")),
            "{status:?}"
        );
    }
    // With the workload certificate (a renewal's credential), the same rules.
    let issued = cp.certificate("web-1.shop", "web").await;
    ads(
        cp.tls_channel(Some(&issued)).await.unwrap(),
        None,
        node("web-2", "shop", "web"),
    )
    .await
    .unwrap();
    let status = ads(
        cp.tls_channel(Some(&issued)).await.unwrap(),
        None,
        node("web-1", "bank", "web"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    // Without any credential, nothing.
    let status = ads(
        cp.tls_channel(None).await.unwrap(),
        None,
        node("web-1", "shop", "web"),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // The plaintext port stays open for local development, as Istio's 15010.
    ads(
        cp.plaintext_channel().await,
        None,
        node("web-1", "shop", "web"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_workload_certificate_renews_itself_and_keeps_its_workload_name() {
    let cp = control_plane().await;
    let issued = cp.certificate("web-1.shop", "web").await;
    let key = KeyPair::generate().unwrap();
    let channel = cp.tls_channel(Some(&issued)).await.unwrap();
    let renewed = create_certificate(channel, None, &csr(&key, WEB), 0)
        .await
        .unwrap();
    assert_eq!(renewed.cert_chain.len(), 2);
    let view = cp.ca.issued().view();
    assert_eq!(view.workloads.len(), 1, "{view:?}");
    let certificates = &view.workloads[0].certificates;
    assert_eq!(view.workloads[0].workload, "web-1.shop");
    assert_eq!(
        certificates
            .iter()
            .map(|c| c.credential.as_str())
            .collect::<Vec<_>>(),
        ["token", "certificate"]
    );
    // A certificate proves its identity only: no CSR for another one with it.
    let channel = cp.tls_channel(Some(&issued)).await.unwrap();
    let other = csr(&key, "spiffe://cluster.local/ns/shop/sa/admin");
    let status = create_certificate(channel, None, &other, 0)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_in_the_handshake() {
    let cp = control_plane().await;
    // A certificate for the same identity, from a CA the control plane does not trust.
    let other_dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let foreign = certificate_from(&open_ca(other_dir.path()), &key);
    let result = match cp.tls_channel(Some(&foreign)).await {
        Err(e) => Err(e.to_string()),
        Ok(channel) => create_certificate(channel, None, &csr(&key, WEB), 0)
            .await
            .map_err(|s| format!("{s:?}")),
    };
    let error = result.unwrap_err();
    // Refused by TLS (the server's alert), before any gRPC: both roots are
    // `O=cluster.local`, so the signature is what tells them apart.
    assert!(error.contains("received fatal alert"), "{error}");
}

/// A certificate for WEB from `ca`, signed directly.
fn certificate_from(ca: &CertificateAuthority, key: &KeyPair) -> Issued {
    let caller = Caller {
        identity: WEB.parse().unwrap(),
        workload: Some("web-1.shop".into()),
        credential: Credential::Token,
        certificate_serial: None,
    };
    let request = IstioCertificateRequest {
        csr: csr(key, WEB),
        validity_duration: 0,
    };
    let response = ca
        .create_certificate(&caller, &request, SystemTime::now())
        .unwrap();
    Issued {
        key: KeyPair::from_pem(&key.serialize_pem()).unwrap(),
        chain: chain_of(&response),
    }
}

fn chain_of(response: &IstioCertificateResponse) -> Vec<CertificateDer<'static>> {
    response
        .cert_chain
        .iter()
        .map(|pem| {
            mesh_tls::certificates_from_pem(pem.as_bytes(), "the response")
                .unwrap()
                .remove(0)
        })
        .collect()
}

/// Dials the TLS port as a proxy does: TCP, then TLS verifying the control plane
/// by its IP address (the serving certificate's IP SAN).
#[derive(Clone)]
struct TlsConnector {
    connector: tokio_rustls::TlsConnector,
}

impl TlsConnector {
    fn new(roots: Vec<CertificateDer<'static>>, client: Option<&Issued>) -> TlsConnector {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(mesh_tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(store);
        let mut config = match client {
            Some(issued) => builder
                .with_client_auth_cert(
                    issued.chain.clone(),
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key.serialize_der())),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        TlsConnector {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }
}

type Connecting = Pin<
    Box<
        dyn std::future::Future<
                Output = Result<
                    TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
                    std::io::Error,
                >,
            > + Send,
    >,
>;

impl Service<http::Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connector = self.connector.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let ip: std::net::IpAddr = host
                .parse()
                .map_err(|e| std::io::Error::other(format!("{host}: {e}")))?;
            let tls = connector
                .connect(ServerName::IpAddress(ip.into()), tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}

#[tokio::test]
async fn the_debug_endpoint_mints_tokens_for_local_callers_and_lists_issued_certificates() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let cp = control_plane().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_config, config_rx) = watch::channel(Arc::new(ConfigSnapshot {
        version: 1,
        model: Arc::new(MeshModel::build(
            std::iter::empty(),
            MeshSettings::default(),
        )),
        errors: Vec::new(),
        changes: Default::default(),
    }));
    let state = mesh_control::debug::DebugState {
        config: config_rx,
        registry: Arc::default(),
    };
    let endpoints = mesh_control::debug::IdentityEndpoints::new(cp.ca.clone(), None);
    tokio::spawn(mesh_control::debug::serve_with_identity(
        listener,
        state,
        Some(endpoints),
        std::future::pending(),
    ));
    let exchange = |request: String| async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    };
    let body = r#"{"workload": "web-1.shop", "serviceAccount": "web", "ttl": "1h"}"#;
    let (status, answer) = exchange(format!(
        "POST /debug/tokens HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert!(status.contains("200"), "{status}: {answer}");
    let token: mesh_api::debug::TokenResponse = serde_json::from_str(&answer).unwrap();
    assert_eq!(token.identity, WEB);

    // The token works, and the certificate shows up under its workload.
    let key = KeyPair::generate().unwrap();
    let channel = cp.plaintext_channel().await;
    create_certificate(channel, Some(&token.token), &csr(&key, WEB), 0)
        .await
        .unwrap();
    let (status, answer) =
        exchange("GET /debug/certificates HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into())
            .await;
    assert!(status.contains("200"), "{status}: {answer}");
    let listed: mesh_api::debug::IssuedCertificates = serde_json::from_str(&answer).unwrap();
    assert_eq!(listed.workloads[0].workload, "web-1.shop");
    assert_eq!(listed.workloads[0].identity, WEB);

    let (status, answer) = exchange(
        "POST /debug/tokens HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}"
            .into(),
    )
    .await;
    assert!(status.contains("400"), "{status}: {answer}");
    assert!(answer.contains("serviceAccount"), "{answer}");
}
