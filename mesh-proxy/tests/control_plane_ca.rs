//! mesh-proxy's identity and xDS client against mesh-control's own CA and ADS on
//! its TLS port, in one process: a token from the CA gives the first certificate,
//! ADS is served over the same TLS to the identity the token proves, and a token
//! for another workload gets nothing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mesh_api::debug::TokenRequest;
use mesh_api::identity::SpiffeId;
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_control::ca::auth::Authenticator;
use mesh_control::ca::host_addresses::serving_names;
use mesh_control::ca::tls::{self, ServingCertificate};
use mesh_control::ca::{
    CaConfig, CaKeyType, CertificateAuthority, CertificateService, LifetimePolicy,
};
use mesh_control::config::ConfigSnapshot;
use mesh_control::xds::node::ProxyNode;
use mesh_control::xds::resources::ProxyResources;
use mesh_control::xds::server::AdsServer;
use mesh_proxy::identity::{self, IdentityConfig};
use mesh_proxy::node::NodeMetadata;
use mesh_proxy::stats::Stats;
use mesh_proxy::xds::XdsClient;
use tokio::sync::watch;

#[path = "support/test_dir.rs"]
mod test_dir;

struct ControlPlane {
    ca: Arc<CertificateAuthority>,
    tls: std::net::SocketAddr,
    root_cert: std::path::PathBuf,
    _config: watch::Sender<Arc<ConfigSnapshot>>,
}

async fn control_plane() -> ControlPlane {
    let dir = test_dir::test_dir("control-plane-ca");
    let ca = Arc::new(
        CertificateAuthority::open(&CaConfig {
            dir: dir.clone(),
            trust_domain: "cluster.local".into(),
            key_type: CaKeyType::EcdsaP256,
            lifetimes: LifetimePolicy {
                default: Duration::from_secs(24 * 3600),
                max: Duration::from_secs(90 * 24 * 3600),
            },
        })
        .expect("a CA"),
    );
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    let serving = ServingCertificate::issue(
        &ca,
        serving_names(address, &[], "mesh-system"),
        Duration::from_secs(3600),
    )
    .expect("a serving certificate");
    let tls_config = tls::server_config(&ca, Arc::new(serving)).expect("a TLS config");
    tokio::spawn(ads.clone().serve_incoming(
        ads.authenticated_service(auth.clone()),
        Some(CertificateService::new(auth)),
        tls::incoming(listener, tls_config),
        std::future::pending(),
    ));
    ControlPlane {
        ca,
        tls: address,
        root_cert: dir.join("root-cert.pem"),
        _config: config,
    }
}

impl ControlPlane {
    fn token_file(&self, workload: &str, service_account: &str) -> std::path::PathBuf {
        let request = TokenRequest {
            workload: workload.into(),
            service_account: service_account.into(),
            ttl: Some("1h".into()),
        };
        let token = self
            .ca
            .issue_token(&request, SystemTime::now())
            .expect("a token")
            .token;
        let path = test_dir::test_dir("token").join("token");
        std::fs::write(&path, token).expect("writes the token");
        path
    }

    fn identity(&self, token_file: std::path::PathBuf) -> IdentityConfig {
        IdentityConfig {
            id: SpiffeId::new("cluster.local", "shop", "reviews"),
            ca_address: self.tls.to_string(),
            root_cert: self.root_cert.clone(),
            token_file,
            cert_ttl: Duration::from_secs(3600),
        }
    }
}

#[tokio::test]
async fn a_token_from_the_control_plane_gives_the_certificate_and_ads_over_tls() {
    let cp = control_plane().await;
    let mut identity =
        identity::spawn(&cp.identity(cp.token_file("reviews-0.shop", "reviews"))).expect("starts");
    let certificate = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(cert) = identity.certificates.borrow_and_update().clone() {
                return cert;
            }
            identity.certificates.changed().await.expect("running");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no certificate: {:?}", identity.status.last_error()));
    assert_eq!(
        certificate
            .info
            .spiffe_id()
            .map(|id| id.to_string())
            .ok()
            .as_deref(),
        Some("spiffe://cluster.local/ns/shop/sa/reviews")
    );
    assert_eq!(
        certificate.chain.len(),
        1,
        "the root is not carried in the chain"
    );

    let node = NodeMetadata {
        proxy_type: mesh_proxy::node::ProxyType::Sidecar,
        pod: "reviews-0".into(),
        namespace: "shop".into(),
        ip: [10, 0, 0, 5].into(),
        service_account: "reviews".into(),
        labels: BTreeMap::new(),
        cluster_id: "Kubernetes".into(),
        cluster_domain: "cluster.local".into(),
    };
    let stats = Arc::new(Stats::default());
    let (tx, mut snapshots) = watch::channel(Arc::default());
    let client = XdsClient::new(cp.tls.to_string(), node.node(), tx, stats.clone())
        .with_credentials(identity.credentials.clone());
    let task = tokio::spawn(client.run());
    let synced = tokio::time::timeout(Duration::from_secs(20), async {
        while !snapshots.borrow_and_update().synced {
            snapshots.changed().await.expect("running");
        }
    })
    .await;
    task.abort();
    assert!(synced.is_ok(), "ADS over TLS did not sync");
}

#[tokio::test]
async fn a_token_for_another_workload_gets_no_certificate() {
    let cp = control_plane().await;
    // The token is ratings', the CSR asks for reviews' identity.
    let identity =
        identity::spawn(&cp.identity(cp.token_file("ratings-0.shop", "ratings"))).expect("starts");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(identity.certificates.borrow().is_none());
    let error = identity.status.last_error().expect("a reason");
    assert!(
        error.contains("PermissionDenied") || error.contains("Unauthenticated"),
        "{error}"
    );
}
