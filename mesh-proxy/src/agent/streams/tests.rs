//! The SDS stream protocol without sockets: first answer, ACK, NACK, stale nonces,
//! unknown names, rotation pushes, and Delta's subscriptions and reconnects.

use std::time::Duration;

use envoy_types::pb::google::rpc::Status;
use mesh_api::identity::SpiffeId;

use super::*;
use crate::agent::secrets::secret_resources;
use crate::identity::test_ca::TestCa;

fn secrets(ca: &TestCa) -> Vec<SecretResource> {
    let id = SpiffeId::new("cluster.local", "shop", "reviews");
    let cert = ca.workload_certificate(&id, Duration::from_secs(3600));
    secret_resources(Some(&cert))
}

fn sotw(names: &[&str], nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        response_nonce: nonce.to_string(),
        type_url: type_url::SECRET.to_string(),
        ..Default::default()
    }
}

fn names(resources: &[envoy_types::pb::google::protobuf::Any]) -> Vec<String> {
    use prost::Message as _;
    resources
        .iter()
        .map(|a| {
            envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret::decode(
                a.value.as_slice(),
            )
            .expect("a Secret")
            .name
        })
        .collect()
}

#[test]
fn sotw_answers_the_names_it_has_then_pushes_rotations_only() {
    let ca = TestCa::new("root");
    let first = secrets(&ca);
    let mut stream = SotwStream::default();
    let response = stream
        .on_request(sotw(&["default"], ""), &first)
        .expect("an answer");
    assert_eq!(names(&response.resources), ["default"]);
    assert_eq!(response.version_info, first[0].version, "the leaf's serial");
    assert_eq!(response.type_url, type_url::SECRET);
    // The ACK, and the same certificate again: nothing to say.
    assert!(
        stream
            .on_request(sotw(&["default"], &response.nonce), &first)
            .is_none()
    );
    assert!(stream.on_update(&first).is_none());
    // A rotation is pushed, with a new nonce.
    let second = secrets(&ca);
    let pushed = stream.on_update(&second).expect("a push");
    assert_eq!(pushed.version_info, second[0].version);
    assert_ne!(pushed.nonce, response.nonce);
}

#[test]
fn sotw_ignores_stale_nonces_and_does_not_resend_after_a_nack() {
    let ca = TestCa::new("root");
    let current = secrets(&ca);
    let mut stream = SotwStream::default();
    let first = stream
        .on_request(sotw(&["default", "ROOTCA"], ""), &current)
        .expect("an answer");
    assert_eq!(names(&first.resources), ["default", "ROOTCA"]);
    let mut nack = sotw(&["default", "ROOTCA"], &first.nonce);
    nack.error_detail = Some(Status {
        code: 3,
        message: "bad key".into(),
        details: vec![],
    });
    assert!(
        stream.on_request(nack, &current).is_none(),
        "the same version is not resent"
    );
    // A request answering an older response changes nothing.
    assert!(
        stream
            .on_request(sotw(&["ROOTCA"], "0"), &current)
            .is_none()
    );
    // New names with the current nonce: answered.
    let narrowed = stream
        .on_request(sotw(&["ROOTCA"], &first.nonce), &current)
        .expect("the new set");
    assert_eq!(names(&narrowed.resources), ["ROOTCA"]);
}

#[test]
fn unknown_names_and_missing_certificates_get_no_answer() {
    let ca = TestCa::new("root");
    let mut stream = SotwStream::default();
    assert!(
        stream
            .on_request(sotw(&["file-cert:/etc/cert.pem"], ""), &secrets(&ca))
            .is_none()
    );
    let mut waiting = SotwStream::default();
    assert!(waiting.on_request(sotw(&["default"], ""), &[]).is_none());
    let arrived = waiting
        .on_update(&secrets(&ca))
        .expect("sent once there is one");
    assert_eq!(names(&arrived.resources), ["default"]);
}

#[test]
fn delta_sends_what_changed_for_the_subscribed_names() {
    let ca = TestCa::new("root");
    let first = secrets(&ca);
    let mut stream = DeltaStream::default();
    let subscribe = |names: &[&str], nonce: &str| DeltaDiscoveryRequest {
        type_url: type_url::SECRET.to_string(),
        resource_names_subscribe: names.iter().map(|n| n.to_string()).collect(),
        response_nonce: nonce.to_string(),
        ..Default::default()
    };
    let response = stream
        .on_request(subscribe(&["default", "ROOTCA", "other"], ""), &first)
        .expect("an answer");
    let sent: Vec<&str> = response.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(sent, ["default", "ROOTCA"], "only names the agent has");
    assert!(
        stream
            .on_request(subscribe(&[], &response.nonce), &first)
            .is_none(),
        "ACK"
    );
    // Rotation: the leaf changes, the bundle does not.
    let pushed = stream.on_update(&secrets(&ca)).expect("a push");
    let sent: Vec<&str> = pushed.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(sent, ["default"]);
    // Unsubscribed names are not pushed.
    let mut unsubscribe = subscribe(&[], &pushed.nonce);
    unsubscribe.resource_names_unsubscribe = vec!["default".into()];
    assert!(stream.on_request(unsubscribe, &first).is_none());
    assert!(stream.on_update(&secrets(&ca)).is_none());
}

#[test]
fn delta_reconnects_get_only_what_envoy_lacks() {
    let ca = TestCa::new("root");
    let current = secrets(&ca);
    let mut stream = DeltaStream::default();
    let request = DeltaDiscoveryRequest {
        type_url: type_url::SECRET.to_string(),
        resource_names_subscribe: vec!["default".into(), "ROOTCA".into()],
        initial_resource_versions: [("ROOTCA".to_string(), current[1].version.clone())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let response = stream.on_request(request, &current).expect("an answer");
    let sent: Vec<&str> = response.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(sent, ["default"]);
}
