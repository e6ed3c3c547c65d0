//! Real Envoy (`target/tools/bin/envoy`, from `cargo xtask tools`) against the agent:
//! a bootstrap with Istio's `sds-grpc` pipe cluster and a TLS listener whose
//! DownstreamTlsContext takes `default` and `ROOTCA` over SDS. Envoy serves TLS with
//! the workload certificate, picks up each rotation, and shows the secrets in
//! `/config_dump` and `/certs` in the shape the admin pages of mesh-proxy copy.
//! Skipped (with a note) when the Envoy binary is not there.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh_api::identity::SpiffeId;
use mesh_proxy::agent;
use mesh_proxy::identity::{self, IdentityConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;

#[path = "support/fake_ca.rs"]
mod fake_ca;
#[path = "support/test_dir.rs"]
mod test_dir;

/// Kills Envoy when the test ends, passing or not.
struct Envoy(Child);

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Takes any server certificate: the test checks the chain and the SPIFFE ID itself
/// (a workload certificate names no DNS name for webpki to match).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn envoy_binary() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/envoy");
    path.exists().then_some(path)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn bootstrap(socket: &Path, admin: u16, listen: u16) -> Value {
    let sds = |name: &str| {
        serde_json::json!({
            "name": name,
            "sds_config": {
                "resource_api_version": "V3",
                "api_config_source": {
                    "api_type": "GRPC",
                    "transport_api_version": "V3",
                    "grpc_services": [{ "envoy_grpc": { "cluster_name": "sds-grpc" } }],
                },
            },
        })
    };
    serde_json::json!({
        "node": { "id": "sidecar~127.0.0.1~reviews-0.shop~shop.svc.cluster.local", "cluster": "reviews.shop" },
        "admin": { "address": { "socket_address": { "address": "127.0.0.1", "port_value": admin } } },
        "static_resources": {
            "clusters": [{
                "name": "sds-grpc",
                "type": "STATIC",
                "connect_timeout": "1s",
                "typed_extension_protocol_options": {
                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                        "explicit_http_config": { "http2_protocol_options": {} },
                    },
                },
                "load_assignment": {
                    "cluster_name": "sds-grpc",
                    "endpoints": [{ "lb_endpoints": [{ "endpoint": { "address": {
                        "pipe": { "path": socket.display().to_string() },
                    } } }] }],
                },
            }],
            "listeners": [{
                "name": "tls",
                "address": { "socket_address": { "address": "127.0.0.1", "port_value": listen } },
                "filter_chains": [{
                    "transport_socket": {
                        "name": "envoy.transport_sockets.tls",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                            "common_tls_context": {
                                "tls_certificate_sds_secret_configs": [sds("default")],
                                "validation_context_sds_secret_config": sds("ROOTCA"),
                            },
                        },
                    },
                    "filters": [{
                        "name": "envoy.filters.network.direct_response",
                        "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config",
                            "response": { "inline_string": "hello" },
                        },
                    }],
                }],
            }],
        },
    })
}

/// The leaf Envoy presents on `port`, and what it says.
fn handshake(port: u16) -> Option<(CertificateDer<'static>, String)> {
    let provider = mesh_tls::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from("reviews.shop").ok()?;
    let mut tls = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut stream = rustls::Stream::new(&mut tls, &mut tcp);
    let mut said = String::new();
    let _ = stream.read_to_string(&mut said);
    let leaf = tls.peer_certificates()?.first()?.clone().into_owned();
    Some((leaf, said))
}

fn admin_get(admin: u16, path: &str) -> Option<Value> {
    let mut tcp = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], admin))).ok()?;
    // HTTP/1.1: Envoy refuses HTTP/1.0 unless told otherwise.
    write!(
        tcp,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return serde_json::from_str(body).ok();
    }
    let (mut rest, mut joined) = (body, String::new());
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return serde_json::from_str(&joined).ok();
        }
        joined.push_str(after.get(..size)?);
        rest = after.get(size + 2..)?;
    }
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn envoy_serves_tls_with_the_agents_certificate_and_follows_rotations() {
    let Some(envoy) = envoy_binary() else {
        eprintln!("skipped: no target/tools/bin/envoy (run `cargo xtask tools`)");
        return;
    };
    let dir = test_dir::test_dir("agent-envoy");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let socket = dir.join("socket");
    let (ca, root_pem) = runtime.block_on(async {
        let ca = fake_ca::FakeCa::start("token").await;
        let token_file = dir.join("token");
        std::fs::write(&token_file, "token").expect("writes the token");
        let identity = identity::spawn(&IdentityConfig {
            id: SpiffeId::new("cluster.local", "shop", "reviews"),
            ca_address: ca.address.to_string(),
            root_cert: ca.root_file(&dir),
            token_file,
            cert_ttl: Duration::from_secs(8),
        })
        .expect("starts");
        let listener = agent::bind(&socket).expect("binds");
        tokio::spawn(agent::serve_sds(
            listener,
            identity.certificates,
            std::future::pending(),
        ));
        let root_pem = ca.root_pem.clone();
        (ca, root_pem)
    });
    let (admin, listen) = (free_port(), free_port());
    let config = dir.join("envoy.json");
    std::fs::write(&config, bootstrap(&socket, admin, listen).to_string()).expect("writes");
    let log = std::fs::File::create(dir.join("envoy.log")).expect("a log");
    let _envoy = Envoy(
        Command::new(envoy)
            .arg("-c")
            .arg(&config)
            .args(["--use-dynamic-base-id", "--disable-hot-restart"])
            .args(["--concurrency", "1", "--log-level", "warning"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log"))
            .stderr(log)
            .spawn()
            .expect("starts envoy"),
    );

    // Envoy closes without close_notify after its direct response: a read may see
    // the end before the bytes; the next connection does not.
    let leaf = eventually("Envoy's TLS listener", || {
        handshake(listen).and_then(|(leaf, said)| (said == "hello").then_some(leaf))
    });
    let id = mesh_tls::identity_of(&leaf).expect("a workload certificate");
    assert_eq!(id.to_string(), "spiffe://cluster.local/ns/shop/sa/reviews");
    let first = mesh_tls::CertificateInfo::parse(&leaf)
        .expect("parses")
        .serial;

    // Envoy's view: the shapes mesh-proxy's admin copies and meshctl reads.
    let dump = eventually("the secrets in /config_dump", || {
        let dump = admin_get(admin, "/config_dump")?;
        let secrets = dump["configs"]
            .as_array()?
            .iter()
            .find(|c| c["@type"] == "type.googleapis.com/envoy.admin.v3.SecretsConfigDump")?
            .clone();
        (secrets["dynamic_active_secrets"].as_array()?.len() == 2).then_some(secrets)
    });
    let active = dump["dynamic_active_secrets"].as_array().expect("a list");
    let default = active
        .iter()
        .find(|s| s["name"] == "default")
        .expect("default");
    assert_eq!(default["secret"]["name"], "default");
    assert!(default["version_info"].is_string() && default["last_updated"].is_string());
    assert!(default["secret"]["tls_certificate"]["certificate_chain"]["inline_bytes"].is_string());
    assert_eq!(
        default["secret"]["tls_certificate"]["private_key"]["inline_bytes"], "W3JlZGFjdGVkXQ==",
        "{default:#}"
    );
    let rootca = active
        .iter()
        .find(|s| s["name"] == "ROOTCA")
        .expect("ROOTCA");
    let trusted = rootca["secret"]["validation_context"]["trusted_ca"]["inline_bytes"]
        .as_str()
        .expect("base64 PEM");
    use base64::Engine as _;
    let trusted = base64::engine::general_purpose::STANDARD
        .decode(trusted)
        .expect("base64");
    assert_eq!(String::from_utf8_lossy(&trusted), root_pem);
    let certs = eventually("/certs", || admin_get(admin, "/certs"));
    let chain = &certs["certificates"][0]["cert_chain"][0];
    assert!(chain["serial_number"].is_string(), "{certs:#}");
    assert!(chain["days_until_expiration"].is_string(), "{certs:#}");
    assert!(chain["valid_from"].is_string() && chain["expiration_time"].is_string());
    assert_eq!(
        chain["subject_alt_names"][0]["uri"], "spiffe://cluster.local/ns/shop/sa/reviews",
        "{certs:#}"
    );

    // A rotation reaches Envoy's listener without a restart.
    let (rotated, _) = eventually("a rotated certificate", || {
        let (leaf, said) = handshake(listen)?;
        let serial = mesh_tls::CertificateInfo::parse(&leaf).ok()?.serial;
        (serial != first).then_some((leaf, said))
    });
    assert_eq!(mesh_tls::identity_of(&rotated).ok(), Some(id));
    drop(ca);
    drop(runtime);
}
