use envoy_types::pb::envoy::config::cluster::v3::cluster::TransportSocketMatch as MatchProto;
use envoy_types::pb::envoy::config::core::v3::TransportSocket as Proto;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    TlsCertificate, common_tls_context::CombinedCertificateValidationContext,
};
use envoy_types::pb::envoy::r#type::matcher::v3::StringMatcher;
use envoy_types::pb::google::protobuf::{Any, BoolValue, Value};

use super::*;

fn socket<M: Message>(type_url: &str, msg: &M) -> Proto {
    Proto {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(Any {
            type_url: type_url.into(),
            value: msg.encode_to_vec(),
        })),
    }
}

fn sds(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        ..Default::default()
    }
}

/// Istio's certificates and trust: SDS `default`, and `ROOTCA` with `sans`.
fn istio_common(alpn: &[&str], sans: &[&str]) -> CommonTlsContext {
    #[allow(deprecated)]
    let default_validation_context = CertificateValidationContext {
        match_subject_alt_names: sans
            .iter()
            .map(|s| StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact((*s).into())),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: tls_parameters::TlsProtocol::TlSv12 as i32,
            cipher_suites: vec!["ECDHE-ECDSA-AES256-GCM-SHA384".into()],
            ..Default::default()
        }),
        tls_certificate_sds_secret_configs: vec![sds("default")],
        alpn_protocols: alpn.iter().map(|a| (*a).to_string()).collect(),
        validation_context_type: Some(
            common_tls_context::ValidationContextType::CombinedValidationContext(
                CombinedCertificateValidationContext {
                    default_validation_context: Some(default_validation_context),
                    validation_context_sds_secret_config: Some(sds("ROOTCA")),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }
}

#[test]
fn istios_inbound_mtls_chain_keeps_its_certificates_trust_and_alpn() {
    let tls = DownstreamTlsContext {
        common_tls_context: Some(istio_common(&["h2", "http/1.1"], &[])),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    };
    let built = build_transport_socket(Some(&socket(DOWNSTREAM_TLS, &tls)), true).expect("Istio's");
    let TransportSocket::Tls(tls) = built else {
        panic!("plaintext: {built:?}");
    };
    assert_eq!(
        tls.role,
        TlsRole::Server {
            require_client_certificate: true
        }
    );
    assert_eq!(tls.certificates, [CertificateSource::Sds("default".into())]);
    assert_eq!(
        tls.validation,
        Some(PeerValidation {
            trusted_ca: Some(CertificateSource::Sds("ROOTCA".into())),
            subject_alt_names: Vec::new(),
        })
    );
    assert_eq!(tls.alpn_protocols, ["h2", "http/1.1"]);
    assert_eq!(
        (tls.min_version, tls.max_version),
        (TlsVersion::Tls12, TlsVersion::Auto)
    );
    assert_eq!(tls.cipher_suites, ["ECDHE-ECDSA-AES256-GCM-SHA384"]);
}

#[test]
fn istios_outbound_matches_pick_mtls_for_tls_mode_istio_and_plaintext_otherwise() {
    let mtls = UpstreamTlsContext {
        common_tls_context: Some(istio_common(
            &["istio-peer-exchange", "istio"],
            &["spiffe://cluster.local/ns/shop/sa/reviews"],
        )),
        sni: "outbound_.9080_._.reviews.shop.svc.cluster.local".into(),
        ..Default::default()
    };
    let tls_mode = |v: &str| Struct {
        fields: [(
            "tlsMode".to_string(),
            Value {
                kind: Some(value::Kind::StringValue(v.into())),
            },
        )]
        .into(),
    };
    let matches = [
        MatchProto {
            name: "tlsMode-istio".into(),
            r#match: Some(tls_mode("istio")),
            transport_socket: Some(socket(UPSTREAM_TLS, &mtls)),
        },
        MatchProto {
            name: "tlsMode-disabled".into(),
            r#match: None,
            transport_socket: Some(socket(RAW_BUFFER, &())),
        },
    ];
    let built = build_transport_socket_matches(&matches).expect("Istio's");
    assert_eq!(built[0].labels["tlsMode"], "istio");
    let TransportSocket::Tls(tls) = &built[0].socket else {
        panic!("{built:?}");
    };
    assert_eq!(
        tls.role,
        TlsRole::Client {
            sni: Some("outbound_.9080_._.reviews.shop.svc.cluster.local".into())
        }
    );
    assert_eq!(
        tls.validation.as_ref().map(|v| v.subject_alt_names.clone()),
        Some(vec![SanMatcher::Exact(
            "spiffe://cluster.local/ns/shop/sa/reviews".into()
        )])
    );
    assert!(built[1].labels.is_empty());
    assert_eq!(built[1].socket, TransportSocket::Plaintext);
    // Istio's SDS names are ones the data path serves.
    built[0]
        .socket
        .check_servable()
        .expect("default and ROOTCA are served");
}

#[test]
fn raw_buffer_and_no_socket_are_plaintext_and_the_wrong_side_is_refused() {
    assert_eq!(
        build_transport_socket(None, true),
        Ok(TransportSocket::Plaintext)
    );
    assert_eq!(
        build_transport_socket(Some(&socket(RAW_BUFFER, &())), true),
        Ok(TransportSocket::Plaintext)
    );
    let upstream = UpstreamTlsContext::default();
    let err = build_transport_socket(Some(&socket(UPSTREAM_TLS, &upstream)), true)
        .expect_err("a client context on a filter chain");
    assert!(
        err.contains("UpstreamTlsContext is not supported here"),
        "{err}"
    );
}

#[test]
fn what_the_proxy_would_not_honour_is_named() {
    let mut common = istio_common(&[], &[]);
    common.tls_certificates = vec![TlsCertificate {
        certificate_chain: Some(DataSource {
            specifier: Some(data_source::Specifier::InlineString("PEM".into())),
            ..Default::default()
        }),
        ..Default::default()
    }];
    let tls = DownstreamTlsContext {
        common_tls_context: Some(common),
        ..Default::default()
    };
    let err = build_transport_socket(Some(&socket(DOWNSTREAM_TLS, &tls)), true)
        .expect_err("inline keys are refused");
    assert_eq!(
        err.to_string(),
        "transport_socket \"envoy.transport_sockets.tls\": certificate_chain: only a filename is supported"
    );
    let tls = DownstreamTlsContext {
        require_sni: Some(BoolValue { value: true }),
        ..Default::default()
    };
    let err =
        build_transport_socket(Some(&socket(DOWNSTREAM_TLS, &tls)), true).expect_err("require_sni");
    assert!(err.contains("require_sni is not supported yet"), "{err}");
}

#[test]
fn endpoints_keep_their_transport_socket_match_labels() {
    use envoy_types::pb::envoy::config::core::v3::{
        Address, Metadata, SocketAddress, address, socket_address,
    };
    use envoy_types::pb::envoy::config::endpoint::v3::{
        ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
    };
    let labels = Struct {
        fields: [(
            "tlsMode".to_string(),
            Value {
                kind: Some(value::Kind::StringValue("istio".into())),
            },
        )]
        .into(),
    };
    let cla = ClusterLoadAssignment {
        cluster_name: "outbound|9080||reviews.shop.svc.cluster.local".into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![LbEndpoint {
                host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                    address: Some(Address {
                        address: Some(address::Address::SocketAddress(SocketAddress {
                            address: "10.0.0.7".into(),
                            port_specifier: Some(socket_address::PortSpecifier::PortValue(9080)),
                            ..Default::default()
                        })),
                    }),
                    ..Default::default()
                })),
                metadata: Some(Metadata {
                    filter_metadata: [(TRANSPORT_SOCKET_MATCH.to_string(), labels)].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let endpoints = crate::config::build_endpoints(&cla).expect("Istio's EDS");
    assert_eq!(endpoints[0].transport_socket_labels["tlsMode"], "istio");
}
