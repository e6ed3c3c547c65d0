//! TLS origination from a DestinationRule's `tls` settings (SIMPLE and MUTUAL with
//! certificate files). ISTIO_MUTUAL, the mesh's own mTLS, is `mtls.rs`'s.

use envoy_types::pb::envoy::config::core::v3::{
    DataSource, TransportSocket, data_source, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher, TlsCertificate,
    UpstreamTlsContext, common_tls_context, subject_alt_name_matcher,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use mesh_api::networking::{ClientTlsSettings, TlsMode};

use super::proto::any;

/// The transport socket Envoy calls `envoy.transport_sockets.tls`.
const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";
/// Where the system's trusted CAs are, as Istio's proxy image has them: a SIMPLE or
/// MUTUAL rule without `caCertificates` verifies the server against them (Istio's
/// VERIFY_CERTIFICATE_AT_CLIENT default).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The transport socket for `tls`, or `None` for plaintext. The SNI is `tls.sni`,
/// else the service host; without `subjectAltNames` the certificate must name the SNI.
pub(crate) fn upstream_tls(tls: &ClientTlsSettings, hostname: &str) -> Option<TransportSocket> {
    if !matches!(tls.mode, Some(TlsMode::Simple | TlsMode::Mutual)) {
        return None;
    }
    let sni = tls
        .sni
        .clone()
        .or_else(|| (!hostname.contains('*')).then(|| hostname.to_string()))
        .unwrap_or_default();
    let file = |path: &str| DataSource {
        specifier: Some(data_source::Specifier::Filename(path.to_string())),
        ..Default::default()
    };
    let validation = if tls.insecure_skip_verify == Some(true) {
        None
    } else {
        let sans: Vec<&str> = if tls.subject_alt_names.is_empty() {
            (!sni.is_empty())
                .then_some(sni.as_str())
                .into_iter()
                .collect()
        } else {
            tls.subject_alt_names.iter().map(String::as_str).collect()
        };
        Some(
            common_tls_context::ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    trusted_ca: Some(file(
                        tls.ca_certificates.as_deref().unwrap_or(SYSTEM_CA_BUNDLE),
                    )),
                    crl: tls.ca_crl.as_deref().map(file),
                    match_typed_subject_alt_names: sans
                        .into_iter()
                        .map(|san| SubjectAltNameMatcher {
                            san_type: subject_alt_name_matcher::SanType::Dns as i32,
                            matcher: Some(StringMatcher {
                                match_pattern: Some(string_matcher::MatchPattern::Exact(
                                    san.to_string(),
                                )),
                                ignore_case: false,
                            }),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
            ),
        )
    };
    let client_certificate = match (&tls.client_certificate, &tls.private_key) {
        (Some(cert), Some(key)) if tls.mode == Some(TlsMode::Mutual) => vec![TlsCertificate {
            certificate_chain: Some(file(cert)),
            private_key: Some(file(key)),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    let context = UpstreamTlsContext {
        sni,
        common_tls_context: Some(CommonTlsContext {
            tls_certificates: client_certificate,
            validation_context_type: validation,
            ..Default::default()
        }),
        ..Default::default()
    };
    Some(TransportSocket {
        name: TLS_TRANSPORT_SOCKET.to_string(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(&context))),
    })
}
