//! The SDS resources a workload certificate makes, with Istio's names: `default`
//! (the chain and the key, inline PEM) and `ROOTCA` (the trust bundle). Pure.

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, Secret, TlsCertificate, secret,
};
use envoy_types::pb::google::protobuf::Any;
use mesh_api::xds::type_url;
use prost::Message as _;

use crate::identity::WorkloadCertificate;

/// Istio's name of the workload certificate and key.
pub const DEFAULT: &str = "default";
/// Istio's name of the trust bundle.
pub const ROOTCA: &str = "ROOTCA";

/// One secret as SDS sends it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SecretResource {
    pub(crate) name: &'static str,
    /// The leaf's serial for `default`, the roots' serials for `ROOTCA`: a new
    /// version exactly when the content changes.
    pub(crate) version: String,
    pub(crate) resource: Any,
}

/// `default` and `ROOTCA` from `certificate`; nothing before the first certificate.
pub(crate) fn secret_resources(certificate: Option<&WorkloadCertificate>) -> Vec<SecretResource> {
    let Some(cert) = certificate else {
        return Vec::new();
    };
    let inline = |pem: String| {
        Some(DataSource {
            specifier: Some(Specifier::InlineBytes(pem.into_bytes())),
            ..Default::default()
        })
    };
    let default = secret::Type::TlsCertificate(TlsCertificate {
        certificate_chain: inline(cert.chain_pem()),
        private_key: inline(cert.key_pem()),
        ..Default::default()
    });
    let rootca = secret::Type::ValidationContext(CertificateValidationContext {
        trusted_ca: inline(cert.roots_pem()),
        ..Default::default()
    });
    vec![
        resource(DEFAULT, cert.info.serial.clone(), default),
        resource(ROOTCA, cert.roots_version(), rootca),
    ]
}

fn resource(name: &'static str, version: String, body: secret::Type) -> SecretResource {
    let secret = Secret {
        name: name.to_string(),
        r#type: Some(body),
    };
    SecretResource {
        name,
        version,
        resource: Any {
            type_url: type_url::SECRET.to_string(),
            value: secret.encode_to_vec(),
        },
    }
}
