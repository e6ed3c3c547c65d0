use std::sync::Arc;

use mesh_api::debug::TokenRequest;

use super::*;
use crate::ca::testing::test_ca;

fn node(pod: &str, namespace: &str, service_account: Option<&str>) -> ProxyNode {
    let id = ProxyNode::sidecar_id("10.0.0.5", pod, namespace);
    let metadata = match service_account {
        Some(sa) => serde_json::json!({ "SERVICE_ACCOUNT": sa }),
        None => serde_json::Value::Null,
    };
    ProxyNode::parse(&id, &metadata).unwrap()
}

fn token_caller() -> Caller {
    Caller {
        identity: SpiffeId::new("cluster.local", "shop", "web"),
        workload: Some("web-1.shop".into()),
        credential: Credential::Token,
        certificate_serial: None,
    }
}

#[test]
fn a_node_of_the_proven_identity_is_served() {
    assert!(authorize_node(&token_caller(), &node("web-1", "shop", Some("web"))).is_ok());
    let by_certificate = Caller {
        workload: None,
        credential: Credential::Certificate,
        ..token_caller()
    };
    // A certificate names no pod: any pod of the identity may use it.
    assert!(authorize_node(&by_certificate, &node("web-2", "shop", Some("web"))).is_ok());
}

#[test]
fn a_node_claiming_another_namespace_service_account_or_pod_is_refused() {
    let caller = token_caller();
    for (node, wrong) in [
        (node("web-1", "bank", Some("web")), "namespace \"bank\""),
        (
            node("web-1", "shop", Some("admin")),
            "SERVICE_ACCOUNT \"admin\"",
        ),
        (node("web-1", "shop", None), "no SERVICE_ACCOUNT metadata"),
        (node("db-1", "shop", Some("web")), "workload \"db-1.shop\""),
    ] {
        let status = authorize_node(&caller, &node).unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        let message = status.message();
        assert!(message.contains(wrong), "{wrong} in {message}");
        assert!(
            message.contains("the caller proved spiffe://cluster.local/ns/shop/sa/web"),
            "{message}"
        );
    }
}

#[test]
fn callers_are_known_by_their_token_or_certificate_or_told_what_to_send() {
    let ca = Arc::new(test_ca());
    let auth = Authenticator::new(ca.clone());
    let now = SystemTime::now();
    let token = ca
        .issue_token(
            &TokenRequest {
                workload: "web-1.shop".into(),
                service_account: "web".into(),
                ttl: None,
            },
            now,
        )
        .unwrap()
        .token;
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let none = http::Extensions::new();
    let caller = auth.authenticate(&headers, &none, now).unwrap();
    assert_eq!(caller.workload.as_deref(), Some("web-1.shop"));
    assert_eq!(
        caller.identity.to_string(),
        "spiffe://cluster.local/ns/shop/sa/web"
    );

    let status = auth
        .authenticate(&http::HeaderMap::new(), &none, now)
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(
        status.message().contains("authorization: Bearer"),
        "{status:?}"
    );

    let mut basic = http::HeaderMap::new();
    basic.insert(http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
    let status = auth.authenticate(&basic, &none, now).unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);

    let mut tls = http::Extensions::new();
    tls.insert(TlsPeer {
        remote: None,
        certificate: Some(PeerCertificate {
            identity: Ok(SpiffeId::new("cluster.local", "shop", "web")),
            serial: "0a".into(),
        }),
    });
    let caller = auth
        .authenticate(&http::HeaderMap::new(), &tls, now)
        .unwrap();
    assert_eq!(caller.credential, Credential::Certificate);
    assert_eq!(caller.certificate_serial.as_deref(), Some("0a"));
}

#[test]
fn tokens_of_another_trust_domain_are_refused() {
    let ca = test_ca();
    let other = crate::ca::TokenGrant {
        identity: SpiffeId::new("other.domain", "shop", "web"),
        workload: "web-1.shop".into(),
        ttl: std::time::Duration::from_secs(60),
    };
    // Signed by this CA's own key, but for another trust domain.
    let token = ca.tokens.issue(&other, SystemTime::now()).unwrap();
    let error = ca.verify_token(&token, SystemTime::now()).unwrap_err();
    assert!(error.to_string().contains("trust domain"), "{error}");
}

#[tokio::test]
async fn a_pod_bound_service_account_token_is_reviewed_and_serves_that_pod_only() {
    use crate::ca::kube::TokenReviewer;
    use crate::ca::kube::mock::{self, authenticated, service_account_token, token_review};

    let ca = Arc::new(test_ca());
    let (client, server) = mock::client();
    let token = service_account_token("shop", "web", 4_000_000_000);
    let served = server.run(vec![token_review(
        &token,
        &["istio-ca"],
        authenticated("shop", "web", "web-1"),
    )]);
    let auth = Authenticator::new(ca.clone()).with_token_reviewer(Arc::new(TokenReviewer::new(
        client,
        vec!["istio-ca".into()],
    )));
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let now = SystemTime::now();
    let caller = auth
        .authenticate_request(&headers, &http::Extensions::new(), now)
        .await
        .unwrap();
    assert_eq!(
        caller.identity.to_string(),
        "spiffe://cluster.local/ns/shop/sa/web"
    );
    assert_eq!(caller.workload.as_deref(), Some("web-1.shop"));
    assert!(authorize_node(&caller, &node("web-1", "shop", Some("web"))).is_ok());
    assert!(authorize_node(&caller, &node("web-2", "shop", Some("web"))).is_err());
    served.await.unwrap();

    // Workload tokens are still this CA's to check, with no review.
    let own = ca
        .issue_token(
            &TokenRequest {
                workload: "db-1.shop".into(),
                service_account: "db".into(),
                ttl: None,
            },
            now,
        )
        .unwrap()
        .token;
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {own}").parse().unwrap(),
    );
    let caller = auth
        .authenticate_request(&headers, &http::Extensions::new(), now)
        .await
        .unwrap();
    assert_eq!(caller.workload.as_deref(), Some("db-1.shop"));
}
