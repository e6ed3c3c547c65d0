use std::time::Duration;

use serde_json::json;

use super::*;
use crate::ca::kube::mock::{self, authenticated, service_account_token, token_review};

fn status(value: serde_json::Value) -> TokenReviewStatus {
    serde_json::from_value(value).unwrap()
}

fn istio_ca() -> Vec<String> {
    vec![DEFAULT_AUDIENCE.to_string()]
}

#[test]
fn an_authenticated_pod_bound_service_account_token_names_its_pod() {
    let reviewed = interpret(
        &status(authenticated("shop", "web", "web-7d9f-x2k4p")),
        &istio_ca(),
    )
    .unwrap();
    assert_eq!(
        reviewed,
        ReviewedToken {
            namespace: "shop".into(),
            service_account: "web".into(),
            pod: Some(BoundPod {
                name: "web-7d9f-x2k4p".into(),
                uid: Some("a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d".into()),
            }),
        }
    );
}

#[test]
fn an_unauthenticated_token_is_refused_with_the_api_servers_reason() {
    let error = interpret(
        &status(
            json!({ "user": {}, "error": "[invalid bearer token, token has been invalidated]" }),
        ),
        &istio_ca(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains(
            "did not authenticate the token: [invalid bearer token, token has been invalidated]"
        ),
        "{error}"
    );
}

#[test]
fn a_token_for_another_audience_is_refused_saying_which_to_mount() {
    // What kube-apiserver answers for a token of the default (API server) audience.
    let refused = status(json!({
        "user": {},
        "error": "[invalid bearer token, token audiences [\"https://kubernetes.default.svc.cluster.local\"] is invalid for the target audiences [\"istio-ca\"], unknown]",
    }));
    let error = interpret(&refused, &istio_ca()).unwrap_err().to_string();
    assert!(
        error.contains("token's audience is not istio-ca: mount a projected ServiceAccount token with audience istio-ca"),
        "{error}"
    );
    // Authenticated, but without our audience: valid for the API server only.
    let mut valid_elsewhere = authenticated("shop", "web", "web-1");
    valid_elsewhere["audiences"] = json!([]);
    let error = interpret(&status(valid_elsewhere), &istio_ca())
        .unwrap_err()
        .to_string();
    assert!(error.contains("valid for the API server only"), "{error}");
}

#[test]
fn a_user_that_is_not_a_service_account_is_refused() {
    for username in [
        "kubernetes-admin",
        "system:node:kind-worker",
        "system:serviceaccount:shop",
    ] {
        let mut review = authenticated("shop", "web", "web-1");
        review["user"]["username"] = json!(username);
        let error = interpret(&status(review), &istio_ca()).unwrap_err();
        assert!(
            matches!(error, ReviewError::NotServiceAccount(ref u) if u == username),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_review_is_asked_once_and_reused_until_the_token_or_a_minute_ends() {
    let (client, server) = mock::client();
    let now = SystemTime::now();
    let exp = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    let token = service_account_token("shop", "web", exp);
    let served = server.run(vec![token_review(
        &token,
        &["istio-ca"],
        authenticated("shop", "web", "web-1"),
    )]);
    let reviewer = TokenReviewer::new(client, Vec::new());
    let first = reviewer.review(&token, now).await.unwrap();
    // From the cache: the script allows no second request.
    let again = reviewer
        .review(&token, now + Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(first, again);
    tokio::time::timeout(Duration::from_secs(1), served)
        .await
        .unwrap()
        .unwrap();
    // The token expires after 30 s: the review is not reused past that.
    assert!(
        reviewer
            .cached(&token, now + Duration::from_secs(31))
            .is_none()
    );
    let other = service_account_token("shop", "web", exp + 3600);
    assert!(reviewer.cached(&other, now).is_none());
}

#[tokio::test]
async fn refused_reviews_are_not_remembered() {
    let (client, server) = mock::client();
    let token = service_account_token("shop", "web", 4_000_000_000);
    let refused = json!({ "user": {}, "error": "[invalid bearer token, service account token has been invalidated]" });
    let served = server.run(vec![
        token_review(&token, &["istio-ca"], refused),
        token_review(&token, &["istio-ca"], authenticated("shop", "web", "web-1")),
    ]);
    let reviewer = TokenReviewer::new(client, vec!["istio-ca".into()]);
    let now = SystemTime::now();
    assert!(matches!(
        reviewer.review(&token, now).await,
        Err(ReviewError::NotAuthenticated(_))
    ));
    assert!(reviewer.review(&token, now).await.is_ok());
    tokio::time::timeout(Duration::from_secs(1), served)
        .await
        .unwrap()
        .unwrap();
}
