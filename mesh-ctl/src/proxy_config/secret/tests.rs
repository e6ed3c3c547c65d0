//! `proxy-config secret` from dumps shaped as Envoy 1.40 writes them (and mesh-proxy
//! copies): the table, the SPIFFE ID and roots, the checks that the admin endpoint is
//! the proxy asked about, and what cannot be shown.

use std::io::{Read as _, Write as _};

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use serde_json::json;

use super::*;

struct Pems {
    leaf: String,
    root: String,
}

fn pems(spiffe: &str) -> Pems {
    let root_key = KeyPair::generate().expect("a key");
    let mut root = CertificateParams::default();
    root.distinguished_name
        .push(DnType::CommonName, "mesh root");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root_cert = root.self_signed(&root_key).expect("signs");
    let issuer = Issuer::new(root, root_key);
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.subject_alt_names = vec![SanType::URI(spiffe.try_into().expect("ia5"))];
    let leaf_key = KeyPair::generate().expect("a key");
    Pems {
        leaf: leaf.signed_by(&leaf_key, &issuer).expect("signs").pem(),
        root: root_cert.pem(),
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// A `/config_dump` as Envoy writes it with an SDS agent; `node` adds Envoy's
/// bootstrap (mesh-proxy's dump has none).
fn dump(pems: &Pems, node: Option<&str>) -> Value {
    let mut configs = Vec::new();
    if let Some(node) = node {
        configs.push(json!({
            "@type": BOOTSTRAP_CONFIG_DUMP,
            "bootstrap": { "node": { "id": node } },
        }));
    }
    configs.push(json!({
        "@type": SECRETS_CONFIG_DUMP,
        "dynamic_active_secrets": [
            {
                "name": "default",
                "version_info": "1",
                "last_updated": "2026-12-03T07:22:38.787Z",
                "secret": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                    "name": "default",
                    "tls_certificate": {
                        "certificate_chain": { "inline_bytes": b64(&pems.leaf) },
                        "private_key": { "inline_bytes": "W3JlZGFjdGVkXQ==" },
                    },
                },
            },
            {
                "name": "ROOTCA",
                "version_info": "1",
                "last_updated": "2026-12-03T07:22:38.790Z",
                "secret": {
                    "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
                    "name": "ROOTCA",
                    "validation_context": { "trusted_ca": { "inline_bytes": b64(&pems.root) } },
                },
            },
        ],
    }));
    json!({ "configs": configs })
}

#[test]
fn the_table_shows_the_chain_the_roots_and_the_identity() {
    let pems = pems("spiffe://cluster.local/ns/shop/sa/reviews");
    let view = secrets_view(&dump(&pems, None)).expect("readable");
    let text = render(&view, SystemTime::now());
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("RESOURCE NAME")
            && lines[0].contains("VALID CERT")
            && lines[0].ends_with("NOT BEFORE"),
        "{text}"
    );
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let default = words(lines[1]);
    assert_eq!(
        default[..5],
        ["default", "Cert", "Chain", "ACTIVE", "true"],
        "{text}"
    );
    assert_eq!(default[5], view.certificates[0].info.serial);
    assert!(
        default[6].ends_with('Z') && default[6].contains('T'),
        "{text}"
    );
    assert_eq!(
        words(lines[2])[..4],
        ["ROOTCA", "CA", "ACTIVE", "true"],
        "{text}"
    );
    assert!(
        text.contains("\nSPIFFE ID: spiffe://cluster.local/ns/shop/sa/reviews\n"),
        "{text}"
    );
    assert!(
        text.contains("ROOTS (1):\n  CN=mesh root (serial "),
        "{text}"
    );
    // Expired: still listed, not valid.
    let later = SystemTime::now() + Duration::from_secs(5000 * 365 * 86_400);
    assert!(
        render(&view, later)
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(" false "))
    );
}

#[test]
fn the_admin_endpoint_must_be_the_proxy_asked_about() {
    let pems = pems("spiffe://cluster.local/ns/shop/sa/reviews");
    let envoy = secrets_view(&dump(
        &pems,
        Some("sidecar~10.0.0.7~reviews-0.shop~shop.svc.cluster.local"),
    ))
    .expect("readable");
    check_proxy(&envoy, "reviews-0.shop", "127.0.0.1:15000").expect("the same proxy");
    let error = check_proxy(&envoy, "ratings-0.shop", "127.0.0.1:15000").expect_err("another");
    assert!(error.to_string().contains("--admin"), "{error}");
    let mesh_proxy = secrets_view(&dump(&pems, None)).expect("readable");
    check_proxy(&mesh_proxy, "reviews-0.shop", "a").expect("the namespace matches");
    let error = check_proxy(&mesh_proxy, "reviews-0.billing", "a").expect_err("another namespace");
    assert!(error.to_string().contains("namespace billing"), "{error}");
}

#[test]
fn a_proxy_without_certificates_and_unreadable_secrets_are_said_so() {
    let none =
        secrets_view(&json!({ "configs": [{ "@type": SECRETS_CONFIG_DUMP }] })).expect("readable");
    assert!(render(&none, SystemTime::now()).contains("no certificates"));
    let broken = json!({ "configs": [{
        "@type": SECRETS_CONFIG_DUMP,
        "dynamic_warming_secrets": [{
            "name": "default",
            "secret": { "tls_certificate": { "certificate_chain": { "filename": "/etc/certs/cert-chain.pem" } } },
        }],
    }] });
    let text = render(&secrets_view(&broken).expect("readable"), SystemTime::now());
    assert!(
        text.contains("cannot show default: read from /etc/certs/cert-chain.pem"),
        "{text}"
    );
    let error = secrets_view(&json!({ "listeners": [] })).expect_err("not a dump with configs");
    assert!(error.to_string().contains("configs"), "{error}");
}

#[test]
fn secrets_are_read_from_the_proxys_admin_endpoint() {
    let pems = pems("spiffe://cluster.local/ns/shop/sa/reviews");
    let body = dump(&pems, None).to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let address = listener.local_addr().expect("an address").to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("a connection");
        let mut request = [0u8; 1024];
        let n = stream.read(&mut request).expect("a request");
        let head = String::from_utf8_lossy(&request[..n]).to_string();
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("answers");
        head
    });
    let text = run("reviews-0.shop", &address, false).expect("shown");
    assert!(
        text.contains("SPIFFE ID: spiffe://cluster.local/ns/shop/sa/reviews"),
        "{text}"
    );
    let head = server.join().expect("the server ran");
    assert!(head.starts_with("GET /config_dump HTTP/1.1"), "{head}");
    let error = run("reviews-0.shop", "127.0.0.1:1", false).expect_err("nothing there");
    assert!(format!("{error:#}").contains("--admin"), "{error:#}");
}
