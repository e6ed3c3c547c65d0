//! The workload identity against a fake CA over real TLS on 127.0.0.1: the first
//! certificate with the bearer token, renewals that present the workload
//! certificate and a rotated token, the old certificate kept while the CA is down,
//! a CA whose certificate does not verify refused, and ADS over the same TLS with
//! the token.

use std::sync::Arc;
use std::time::Duration;

use mesh_api::identity::SpiffeId;
use mesh_proxy::identity::{self, IdentityConfig, WorkloadCertificate, WorkloadIdentity};
use mesh_proxy::stats::Stats;
use mesh_proxy::xds::XdsClient;

#[path = "support/fake_ca.rs"]
mod fake_ca;
#[path = "support/test_dir.rs"]
mod test_dir;

use fake_ca::FakeCa;

const TOKEN: &str = "token-for-reviews";

fn id() -> SpiffeId {
    SpiffeId::new("cluster.local", "shop", "reviews")
}

fn config(ca: &FakeCa, ca_address: String, ttl: Duration) -> IdentityConfig {
    let dir = test_dir::test_dir("identity");
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("writes the token");
    IdentityConfig {
        id: id(),
        ca_address,
        root_cert: ca.root_file(&dir),
        token_file,
        cert_ttl: ttl,
    }
}

async fn next_certificate(identity: &mut WorkloadIdentity) -> Arc<WorkloadCertificate> {
    let wait = async {
        loop {
            identity
                .certificates
                .changed()
                .await
                .expect("the identity runs");
            if let Some(cert) = identity.certificates.borrow_and_update().clone() {
                return cert;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no certificate: {:?}", identity.status.last_error()))
}

#[tokio::test]
async fn the_first_certificate_comes_over_tls_with_the_token_and_renewals_present_it() {
    let ca = FakeCa::start(TOKEN).await;
    let config = config(&ca, ca.address.to_string(), Duration::from_secs(6));
    let mut identity = identity::spawn(&config).expect("starts");
    let first = next_certificate(&mut identity).await;
    assert_eq!(first.identity, id());
    assert_eq!(first.info.spiffe_id().ok(), Some(id()));
    let seen = ca.seen();
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer token-for-reviews")
    );
    assert_eq!(seen[0].client_identity, None);
    // A token replaced in place is read at the next call.
    std::fs::write(&config.token_file, "rotated-token").expect("rewrites the token");
    ca.set_token("rotated-token");
    let second = next_certificate(&mut identity).await;
    assert_ne!(second.info.serial, first.info.serial);
    let renewal = ca.seen().last().cloned().expect("a renewal");
    assert_eq!(
        renewal.client_identity.as_deref(),
        Some("spiffe://cluster.local/ns/shop/sa/reviews"),
        "the renewal presents the workload certificate"
    );
    assert_eq!(
        renewal.authorization.as_deref(),
        Some("Bearer rotated-token")
    );
}

#[tokio::test]
async fn the_current_certificate_serves_while_the_ca_is_down_and_is_replaced_when_it_returns() {
    let ca = FakeCa::start(TOKEN).await;
    let mut identity = identity::spawn(&config(
        &ca,
        ca.address.to_string(),
        Duration::from_secs(12),
    ))
    .expect("starts");
    let first = next_certificate(&mut identity).await;
    ca.set_up(false);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let current = identity
        .certificates
        .borrow()
        .clone()
        .expect("still served");
    assert_eq!(current.info.serial, first.info.serial);
    let error = identity.status.last_error().expect("the failure is kept");
    assert!(
        error.contains("Unavailable") && error.contains("down"),
        "{error}"
    );
    ca.set_up(true);
    let recovered = next_certificate(&mut identity).await;
    assert_ne!(recovered.info.serial, first.info.serial);
    assert_eq!(identity.status.last_error(), None);
}

#[tokio::test]
async fn a_ca_that_does_not_verify_gets_no_csr() {
    let ca = FakeCa::start(TOKEN).await;
    let impostor = FakeCa::start(TOKEN).await;
    // Our bundle is `ca`'s root; `impostor` presents a certificate from another root.
    let identity = identity::spawn(&config(
        &ca,
        impostor.address.to_string(),
        Duration::from_secs(60),
    ))
    .expect("starts");
    // The server's certificate is for 127.0.0.1, not for `localhost`.
    let misnamed = identity::spawn(&config(
        &ca,
        format!("localhost:{}", ca.address.port()),
        Duration::from_secs(60),
    ))
    .expect("starts");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(identity.certificates.borrow().is_none());
    assert!(misnamed.certificates.borrow().is_none());
    assert!(
        impostor.seen().is_empty(),
        "no request reached the impostor"
    );
    let error = identity.status.last_error().expect("a reason");
    assert!(error.contains("invalid peer certificate"), "{error}");
    let error = misnamed.status.last_error().expect("a reason");
    assert!(
        error.contains("not valid for name \"localhost\""),
        "{error}"
    );
}

#[tokio::test]
async fn ads_goes_over_the_same_tls_with_the_token() {
    let ca = FakeCa::start(TOKEN).await;
    let identity = identity::spawn(&config(
        &ca,
        ca.address.to_string(),
        Duration::from_secs(60),
    ))
    .expect("starts");
    let (tx, _rx) = tokio::sync::watch::channel(Arc::default());
    let node = envoy_types::pb::envoy::config::core::v3::Node {
        id: "sidecar~10.0.0.1~reviews-0.shop~shop.svc.cluster.local".into(),
        ..Default::default()
    };
    let client = XdsClient::new(ca.address.to_string(), node, tx, Arc::new(Stats::default()))
        .with_credentials(identity.credentials.clone());
    let task = tokio::spawn(client.run());
    let ads = async {
        loop {
            if let Some(seen) = ca
                .seen()
                .into_iter()
                .find(|s| s.path.contains("AggregatedDiscoveryService"))
            {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let seen = tokio::time::timeout(Duration::from_secs(10), ads)
        .await
        .expect("the xDS client connects");
    task.abort();
    assert_eq!(
        seen.path,
        "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
    );
    assert_eq!(
        seen.authorization.as_deref(),
        Some("Bearer token-for-reviews")
    );
}
