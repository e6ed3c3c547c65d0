//! The admin pages' secrets in Envoy's shapes, and readiness while waiting for the
//! first certificate.

use std::time::Duration;

use mesh_api::identity::SpiffeId;

use super::*;
use crate::identity::test_ca::TestCa;

fn id() -> SpiffeId {
    SpiffeId::new("cluster.local", "shop", "reviews")
}

fn decoded(value: &Value) -> String {
    let text = value.as_str().expect("base64 text");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64");
    String::from_utf8(bytes).expect("PEM text")
}

#[test]
fn secrets_are_dumped_as_envoy_dumps_them() {
    let ca = TestCa::new("root");
    let cert = ca.workload_certificate(&id(), Duration::from_secs(3600));
    let dump = secrets_config_dump(Some(&cert), None);
    assert_eq!(dump["@type"], SECRETS_CONFIG_DUMP);
    let secrets = dump["dynamic_active_secrets"].as_array().expect("a list");
    assert_eq!(secrets.len(), 2);
    let default = &secrets[0];
    assert_eq!(default["name"], "default");
    assert_eq!(default["version_info"], cert.info.serial.as_str());
    assert_eq!(default["secret"]["@type"], SECRET);
    assert_eq!(default["secret"]["name"], "default");
    let tls = &default["secret"]["tls_certificate"];
    assert_eq!(
        decoded(&tls["certificate_chain"]["inline_bytes"]),
        cert.chain_pem()
    );
    assert_eq!(decoded(&tls["private_key"]["inline_bytes"]), "[redacted]");
    let rootca = &secrets[1];
    assert_eq!(rootca["name"], "ROOTCA");
    assert_eq!(
        decoded(&rootca["secret"]["validation_context"]["trusted_ca"]["inline_bytes"]),
        ca.root_pem
    );
    let updated = default["last_updated"].as_str().expect("a timestamp");
    assert!(updated.ends_with('Z') && updated.contains('.'), "{updated}");
    let empty = secrets_config_dump(None, None);
    assert!(empty.get("dynamic_active_secrets").is_none(), "{empty}");
}

#[test]
fn certs_are_listed_as_envoy_lists_them() {
    let ca = TestCa::new("root");
    let cert = ca.workload_certificate(&id(), Duration::from_secs(3 * 86_400 + 60));
    let certs = certs(Some(&cert), SystemTime::now());
    let entry = &certs["certificates"][0];
    let leaf = &entry["cert_chain"][0];
    assert_eq!(leaf["path"], "<inline>");
    assert_eq!(leaf["serial_number"], cert.info.serial.as_str());
    assert_eq!(
        leaf["subject_alt_names"][0]["uri"],
        "spiffe://cluster.local/ns/shop/sa/reviews"
    );
    assert_eq!(leaf["days_until_expiration"], "3");
    assert_eq!(
        leaf["expiration_time"],
        timestamp(cert.info.not_after, false)
    );
    assert_eq!(entry["ca_cert"].as_array().map(Vec::len), Some(1));
}

#[test]
fn readiness_waits_for_the_first_certificate_and_says_why() {
    let status = IdentityStatus::new(id(), "10.0.0.5:15012".into());
    let why = not_ready(Some(&status), None).expect("not ready");
    assert!(
        why.contains("spiffe://cluster.local/ns/shop/sa/reviews"),
        "{why}"
    );
    assert!(why.contains("10.0.0.5:15012"), "{why}");
    let ca = TestCa::new("root");
    let cert = ca.workload_certificate(&id(), Duration::from_secs(60));
    assert_eq!(not_ready(Some(&status), Some(&cert)), None);
    assert_eq!(
        not_ready(None, None),
        None,
        "no identity: nothing to wait for"
    );
}

#[test]
fn timestamps_are_rfc3339_utc() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_251_199_123);
    assert_eq!(timestamp(t, true), "2024-02-29T23:59:59.123Z");
    assert_eq!(
        timestamp(SystemTime::UNIX_EPOCH, false),
        "1970-01-01T00:00:00Z"
    );
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(4_102_444_800);
    assert_eq!(timestamp(t, false), "2100-01-01T00:00:00Z");
}
