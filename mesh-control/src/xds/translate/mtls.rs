//! Istio's mutual TLS between sidecars, in the shape istiod gives it: certificates
//! from SDS (`default`, and the trust bundle `ROOTCA`, both from the `sds-grpc`
//! cluster the bootstrap defines), the client side of outbound clusters and the
//! server side of inbound filter chains.

use envoy_types::pb::envoy::config::cluster::v3::cluster::TransportSocketMatch;
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, ConfigSource, GrpcService, Metadata, TransportSocket, api_config_source,
    config_source, grpc_service, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::raw_buffer::v3::RawBuffer;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    SubjectAltNameMatcher, TlsParameters, UpstreamTlsContext, common_tls_context,
    subject_alt_name_matcher, tls_parameters,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{BoolValue, Struct, Value, value};

use super::proto::{any, seconds};

/// The bootstrap's cluster to the SDS server (`mesh-proxy agent`, Istio's pilot-agent).
pub const SDS_CLUSTER: &str = "sds-grpc";
/// SDS name of the workload's certificate chain and key.
pub const SDS_CERTIFICATE: &str = "default";
/// SDS name of the trust bundle peers are verified against.
pub const SDS_ROOT_CA: &str = "ROOTCA";

/// The workload label that says a sidecar terminates mTLS for it (Istio's injector
/// sets it on pods; WorkloadEntries carry it themselves).
pub(crate) const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// Endpoint metadata `transport_socket_matches` look at, and the key in it.
const TRANSPORT_SOCKET_MATCH: &str = "envoy.transport_socket_match";
const TLS_MODE_KEY: &str = "tlsMode";
const TLS_MODE_ISTIO: &str = "istio";
const TLS_MODE_DISABLED: &str = "disabled";

const TLS_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.tls";
const RAW_BUFFER_TRANSPORT_SOCKET: &str = "envoy.transport_sockets.raw_buffer";

/// What a client offers: `istio-peer-exchange` and `istio` mark in-mesh traffic for the
/// server's filter chain match (Istio's ALPNInMeshWithMxc), `h2` on HTTP/2 clusters.
const ALPN_IN_MESH: [&str; 2] = ["istio-peer-exchange", "istio"];
const ALPN_IN_MESH_H2: [&str; 3] = ["istio-peer-exchange", "istio", "h2"];
/// What a server negotiates: never `istio`, which would hide the real protocol.
const ALPN_HTTP: [&str; 2] = ["h2", "http/1.1"];
const ALPN_DOWNSTREAM_TCP: [&str; 3] = ["istio-peer-exchange", "h2", "http/1.1"];

/// Every ALPN an Istio client sidecar sends over mTLS (Istio's allIstioMtlsALPNs).
pub(crate) const ALL_ISTIO_MTLS_ALPNS: [&str; 5] = [
    "istio",
    "istio-peer-exchange",
    "istio-http/1.0",
    "istio-http/1.1",
    "istio-h2",
];
/// ALPNs of HTTP that a client sidecar detected and sent over mTLS.
pub(crate) const MTLS_HTTP_ALPNS: [&str; 3] = ["istio-http/1.0", "istio-http/1.1", "istio-h2"];
/// ALPNs of traffic a client sidecar could not identify, sent over mTLS.
pub(crate) const MTLS_TCP_ALPNS: [&str; 2] = ["istio-peer-exchange", "istio"];

/// Istio's server-side cipher suites for TLS 1.2 (TLS 1.3 suites are not configurable).
const SUPPORTED_CIPHERS: [&str; 6] = [
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
];

/// An SDS secret by name, from the `sds-grpc` cluster. `initial_fetch_timeout: 0s`:
/// a listener or cluster waits for its certificate rather than serving without it.
pub fn sds_secret_config(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ConfigSource {
            initial_fetch_timeout: Some(seconds(0)),
            resource_api_version: envoy_types::pb::envoy::config::core::v3::ApiVersion::V3 as i32,
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: api_config_source::ApiType::Grpc as i32,
                    transport_api_version: envoy_types::pb::envoy::config::core::v3::ApiVersion::V3
                        as i32,
                    set_node_on_first_message_only: true,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: SDS_CLUSTER.to_string(),
                                ..Default::default()
                            },
                        )),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
    }
}

fn typed_san(san: &str) -> SubjectAltNameMatcher {
    let san_type = if san.starts_with("spiffe://") {
        subject_alt_name_matcher::SanType::Uri
    } else {
        subject_alt_name_matcher::SanType::Dns
    };
    SubjectAltNameMatcher {
        san_type: san_type as i32,
        matcher: Some(StringMatcher {
            match_pattern: Some(string_matcher::MatchPattern::Exact(san.to_string())),
            ignore_case: false,
        }),
        ..Default::default()
    }
}

fn strings<const N: usize>(items: [&str; N]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The workload certificate, and peers verified against the trust bundle and (when
/// any are given) one of `subject_alt_names`.
fn istio_common_tls_context(
    subject_alt_names: &[String],
    tls_params: TlsParameters,
    alpn_protocols: Vec<String>,
) -> CommonTlsContext {
    CommonTlsContext {
        tls_params: Some(tls_params),
        alpn_protocols,
        tls_certificate_sds_secret_configs: vec![sds_secret_config(SDS_CERTIFICATE)],
        validation_context_type: Some(
            common_tls_context::ValidationContextType::CombinedValidationContext(
                common_tls_context::CombinedCertificateValidationContext {
                    default_validation_context: Some(CertificateValidationContext {
                        // Typed, as Envoy wants them now (the untyped field is
                        // deprecated): SPIFFE IDs are URI SANs, anything else a
                        // ServiceEntry names is taken as a DNS name.
                        match_typed_subject_alt_names: subject_alt_names
                            .iter()
                            .map(|san| typed_san(san))
                            .collect(),
                        ..Default::default()
                    }),
                    validation_context_sds_secret_config: Some(sds_secret_config(SDS_ROOT_CA)),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }
}

/// The client side of Istio's mTLS (ISTIO_MUTUAL): SNI `sni`, the server must prove
/// one of `subject_alt_names`.
pub(crate) fn istio_upstream_tls(
    sni: &str,
    subject_alt_names: &[String],
    http2: bool,
) -> TransportSocket {
    let alpn = if http2 {
        strings(ALPN_IN_MESH_H2)
    } else {
        strings(ALPN_IN_MESH)
    };
    let params = TlsParameters {
        tls_minimum_protocol_version: tls_parameters::TlsProtocol::TlSv12 as i32,
        tls_maximum_protocol_version: tls_parameters::TlsProtocol::TlSv13 as i32,
        ..Default::default()
    };
    let context = UpstreamTlsContext {
        sni: sni.to_string(),
        common_tls_context: Some(istio_common_tls_context(subject_alt_names, params, alpn)),
        ..Default::default()
    };
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.to_string(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(&context))),
    }
}

/// Auto mTLS: `socket` to endpoints labelled `tlsMode: istio` (they run a sidecar),
/// plain text to the others.
pub(crate) fn auto_mtls_matches(socket: TransportSocket) -> Vec<TransportSocketMatch> {
    vec![
        TransportSocketMatch {
            name: format!("tlsMode-{TLS_MODE_ISTIO}"),
            r#match: Some(string_struct(TLS_MODE_KEY, TLS_MODE_ISTIO)),
            transport_socket: Some(socket),
        },
        TransportSocketMatch {
            name: format!("tlsMode-{TLS_MODE_DISABLED}"),
            r#match: Some(Struct::default()),
            transport_socket: Some(raw_buffer()),
        },
    ]
}

fn raw_buffer() -> TransportSocket {
    TransportSocket {
        name: RAW_BUFFER_TRANSPORT_SOCKET.to_string(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(
            &RawBuffer::default(),
        ))),
    }
}

/// The server side of Istio's mTLS on an inbound chain: a client certificate from the
/// trust bundle is required (any workload identity; authorization policies decide who
/// may call what).
pub(crate) fn istio_downstream_tls(http: bool) -> TransportSocket {
    let alpn = if http {
        strings(ALPN_HTTP)
    } else {
        strings(ALPN_DOWNSTREAM_TCP)
    };
    let params = TlsParameters {
        tls_minimum_protocol_version: tls_parameters::TlsProtocol::TlSv12 as i32,
        tls_maximum_protocol_version: tls_parameters::TlsProtocol::TlSv13 as i32,
        cipher_suites: strings(SUPPORTED_CIPHERS),
        ..Default::default()
    };
    let context = DownstreamTlsContext {
        common_tls_context: Some(istio_common_tls_context(&[], params, alpn)),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    };
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET.to_string(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(&context))),
    }
}

/// The metadata an endpoint carries for `transport_socket_matches`: its workload's
/// `security.istio.io/tlsMode` label, unless absent or `disabled` (as Istio, other
/// values pass through for custom matches).
pub(crate) fn endpoint_tls_metadata(
    labels: &std::collections::BTreeMap<String, String>,
) -> Option<Metadata> {
    let mode = labels
        .get(TLS_MODE_LABEL)
        .filter(|m| !m.is_empty() && m.as_str() != TLS_MODE_DISABLED)?;
    Some(Metadata {
        filter_metadata: [(
            TRANSPORT_SOCKET_MATCH.to_string(),
            string_struct(TLS_MODE_KEY, mode),
        )]
        .into(),
        ..Default::default()
    })
}

fn string_struct(key: &str, v: &str) -> Struct {
    Struct {
        fields: [(
            key.to_string(),
            Value {
                kind: Some(value::Kind::StringValue(v.to_string())),
            },
        )]
        .into(),
    }
}
