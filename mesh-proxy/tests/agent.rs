//! `mesh-proxy agent`'s SDS server with a real tonic client on its Unix socket, the
//! certificates coming from a fake CA over TLS: `default` and `ROOTCA` with Istio's
//! shape, ACKs, a push on rotation, Delta subscriptions, and a stale socket
//! replaced while a live one is not.

use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::data_source::Specifier;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::secret;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use mesh_api::identity::SpiffeId;
use mesh_api::xds::type_url;
use mesh_proxy::agent;
use mesh_proxy::identity::{self, IdentityConfig};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[path = "support/fake_ca.rs"]
mod fake_ca;
#[path = "support/sds_client.rs"]
mod sds_client;
#[path = "support/test_dir.rs"]
mod test_dir;

const WAIT: Duration = Duration::from_secs(20);

fn inline(source: Option<&envoy_types::pb::envoy::config::core::v3::DataSource>) -> String {
    match source.and_then(|s| s.specifier.as_ref()) {
        Some(Specifier::InlineBytes(bytes)) => String::from_utf8(bytes.clone()).expect("PEM"),
        other => panic!("not inline bytes: {other:?}"),
    }
}

#[tokio::test]
async fn envoy_gets_default_and_rootca_and_each_rotation() {
    let dir = test_dir::test_dir("agent");
    let ca = fake_ca::FakeCa::start("token").await;
    let token_file = dir.join("token");
    std::fs::write(&token_file, "token").expect("writes the token");
    let id = SpiffeId::new("cluster.local", "shop", "reviews");
    let identity = identity::spawn(&IdentityConfig {
        id: id.clone(),
        ca_address: ca.address.to_string(),
        root_cert: ca.root_file(&dir),
        token_file,
        cert_ttl: Duration::from_secs(6),
    })
    .expect("starts");
    let socket = dir.join("sds/socket");
    let listener = agent::bind(&socket).expect("binds");
    tokio::spawn(agent::serve_sds(
        listener,
        identity.certificates.clone(),
        std::future::pending(),
    ));

    // State of the World, as Envoy asks: one stream per secret.
    let mut client = sds_client::connect(&socket).await;
    let (tx, rx) = mpsc::channel(4);
    let ask = |names: &[&str], version: &str, nonce: &str| DiscoveryRequest {
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        type_url: type_url::SECRET.to_string(),
        version_info: version.to_string(),
        response_nonce: nonce.to_string(),
        ..Default::default()
    };
    tx.send(ask(&["default"], "", "")).await.expect("sends");
    let mut responses = client
        .stream_secrets(ReceiverStream::new(rx))
        .await
        .expect("a stream")
        .into_inner();
    let first = tokio::time::timeout(WAIT, responses.message())
        .await
        .expect("an answer in time")
        .expect("a response")
        .expect("not the end");
    assert_eq!(first.resources.len(), 1);
    let default = sds_client::secret(&first.resources[0]);
    assert_eq!(default.name, "default");
    let Some(secret::Type::TlsCertificate(tls)) = default.r#type else {
        panic!("not a TLS certificate: {default:?}");
    };
    let chain = inline(tls.certificate_chain.as_ref());
    let leaf = mesh_tls::certificates_from_pem(chain.as_bytes(), "chain").expect("PEM");
    assert_eq!(mesh_tls::identity_of(&leaf[0]).ok(), Some(id.clone()));
    let key = inline(tls.private_key.as_ref());
    mesh_tls::private_key_from_pem(key.as_bytes(), "key").expect("a PKCS#8 key");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    // ACK; the next answer is the rotation, with a new version.
    tx.send(ask(&["default"], &first.version_info, &first.nonce))
        .await
        .expect("sends");
    let rotated = tokio::time::timeout(WAIT, responses.message())
        .await
        .expect("a rotation in time")
        .expect("a response")
        .expect("not the end");
    assert_ne!(rotated.version_info, first.version_info);
    assert_ne!(rotated.nonce, first.nonce);

    // Delta: names it has are answered, others are not.
    let (tx, rx) = mpsc::channel(4);
    tx.send(DeltaDiscoveryRequest {
        type_url: type_url::SECRET.to_string(),
        resource_names_subscribe: vec!["ROOTCA".into(), "file-cert:/etc/certs/cert.pem".into()],
        ..Default::default()
    })
    .await
    .expect("sends");
    let mut deltas = client
        .delta_secrets(ReceiverStream::new(rx))
        .await
        .expect("a stream")
        .into_inner();
    let delta = tokio::time::timeout(WAIT, deltas.message())
        .await
        .expect("an answer in time")
        .expect("a response")
        .expect("not the end");
    let names: Vec<&str> = delta.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ROOTCA"]);
    let rootca = sds_client::secret(delta.resources[0].resource.as_ref().expect("a body"));
    let Some(secret::Type::ValidationContext(validation)) = rootca.r#type else {
        panic!("not a validation context: {rootca:?}");
    };
    assert_eq!(inline(validation.trusted_ca.as_ref()), ca.root_pem);
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_live_one_is_not() {
    let dir = test_dir::test_dir("agent-socket");
    let socket = dir.join("socket");
    // A socket file left by an agent that stopped.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("binds"));
    let live = agent::bind(&socket).expect("the stale socket is replaced");
    let error = agent::bind(&socket).expect_err("a live agent serves there");
    assert!(error.to_string().contains("another agent"), "{error}");
    drop(live);
    let file = dir.join("file");
    std::fs::write(&file, "").expect("writes");
    let error = agent::bind(&file).expect_err("not a socket");
    assert!(error.to_string().contains("not a socket"), "{error}");
}
