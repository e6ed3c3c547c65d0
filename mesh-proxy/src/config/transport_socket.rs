//! `transport_socket` protos → [`TransportSocket`]: plaintext, or TLS with the
//! certificates, trust and ALPN it asks for. Filter chains (`DownstreamTlsContext`)
//! and clusters (`UpstreamTlsContext`, and `transport_socket_matches` by endpoint
//! metadata) keep what they were given; whether the data path can serve it is
//! decided apart from reading it ([`TransportSocket::refuse_tls`]).

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{
    DataSource, TransportSocket as TransportSocketProto, data_source, transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    TlsParameters, UpstreamTlsContext, common_tls_context, tls_parameters,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Struct, value};
use prost::Message;
use serde::Serialize;

use super::error::FieldError;

const RAW_BUFFER: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer";
const DOWNSTREAM_TLS: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
const UPSTREAM_TLS: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
/// The endpoint metadata namespace `transport_socket_matches` match against.
pub(super) const TRANSPORT_SOCKET_MATCH: &str = "envoy.transport_socket_match";

/// How a connection's bytes travel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum TransportSocket {
    /// No transport socket, or `raw_buffer`.
    #[default]
    Plaintext,
    Tls(Box<TlsContext>),
}

/// What a TLS transport socket asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TlsContext {
    pub role: TlsRole,
    /// The certificates to present (Istio's: SDS `default`).
    pub certificates: Vec<CertificateSource>,
    /// How the peer is verified; `None` accepts any peer (server side: asks for no
    /// client certificate).
    pub validation: Option<PeerValidation>,
    pub alpn_protocols: Vec<String>,
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    pub cipher_suites: Vec<String>,
}

/// Which end of the handshake the proxy is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsRole {
    /// A filter chain's `DownstreamTlsContext`.
    Server { require_client_certificate: bool },
    /// A cluster's `UpstreamTlsContext`.
    Client { sni: Option<String> },
}

/// Where a certificate (with its key), or a trust bundle, comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateSource {
    /// An SDS secret by name (`default`, `ROOTCA`, `file-cert:…`).
    Sds(String),
    /// PEM files (`filename` data sources).
    Files {
        certificate_chain: String,
        private_key: Option<String>,
    },
}

/// The peer's certificate must chain to `trusted_ca` and carry a matching SAN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct PeerValidation {
    pub trusted_ca: Option<CertificateSource>,
    /// Any of them must match a SAN of the peer (none: any SAN).
    pub subject_alt_names: Vec<SanMatcher>,
}

/// One `match_subject_alt_names` entry. The regex is kept as written (it was compiled
/// once to check it): the verifier that uses it compiles it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SanMatcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(String),
}

/// `tls_minimum_protocol_version` / `tls_maximum_protocol_version`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub enum TlsVersion {
    /// Envoy's default for the side.
    #[default]
    Auto,
    Tls12,
    Tls13,
}

/// A cluster's `transport_socket_matches` entry: endpoints whose
/// `envoy.transport_socket_match` metadata has every label of `labels` use `socket`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransportSocketMatch {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub socket: TransportSocket,
}

impl TransportSocket {
    /// Whether the data path can serve this socket: every SDS secret it names must be
    /// one the proxy has (the workload's `default`/`ROOTCA`, or Istio's `file-cert:`
    /// and `file-root:`); otherwise the resource is NACKed, never served as plaintext.
    pub fn check_servable(&self) -> Result<(), FieldError> {
        let TransportSocket::Tls(tls) = self else {
            return Ok(());
        };
        let at = |e: String| FieldError::new(e).at("transport_socket");
        for source in &tls.certificates {
            crate::tls::check_source(source, false).map_err(at)?;
        }
        if let Some(ca) = tls.validation.as_ref().and_then(|v| v.trusted_ca.as_ref()) {
            crate::tls::check_source(ca, true).map_err(at)?;
        }
        if matches!(tls.role, TlsRole::Server { .. }) && tls.certificates.is_empty() {
            return Err(at(
                "a DownstreamTlsContext without a certificate".to_string()
            ));
        }
        Ok(())
    }
}

/// Converts a filter chain's (`server`) or a cluster's transport socket.
pub(super) fn build_transport_socket(
    proto: Option<&TransportSocketProto>,
    server: bool,
) -> Result<TransportSocket, FieldError> {
    let Some(ts) = proto else {
        return Ok(TransportSocket::Plaintext);
    };
    let at = |e: FieldError| e.at(format!("transport_socket {:?}", ts.name));
    let Some(transport_socket::ConfigType::TypedConfig(any)) = &ts.config_type else {
        return Err(at("typed_config missing".into()));
    };
    let decode_error = |e: prost::DecodeError| at(format!("cannot decode: {e}").into());
    match (any.type_url.as_str(), server) {
        (RAW_BUFFER, _) => Ok(TransportSocket::Plaintext),
        (DOWNSTREAM_TLS, true) => {
            let tls = DownstreamTlsContext::decode(any.value.as_slice()).map_err(decode_error)?;
            downstream_tls(&tls).map_err(at)
        }
        (UPSTREAM_TLS, false) => {
            let tls = UpstreamTlsContext::decode(any.value.as_slice()).map_err(decode_error)?;
            upstream_tls(&tls).map_err(at)
        }
        (other, _) => Err(at(format!("type {other} is not supported here").into())),
    }
}

/// A cluster's `transport_socket_matches`, in order (the first match wins).
pub(super) fn build_transport_socket_matches(
    matches: &[envoy_types::pb::envoy::config::cluster::v3::cluster::TransportSocketMatch],
) -> Result<Vec<TransportSocketMatch>, FieldError> {
    matches
        .iter()
        .map(|m| {
            let at = |e: FieldError| e.at(format!("transport_socket_matches {:?}", m.name));
            Ok(TransportSocketMatch {
                name: m.name.clone(),
                labels: string_labels(m.r#match.as_ref()).map_err(at)?,
                socket: build_transport_socket(m.transport_socket.as_ref(), false).map_err(at)?,
            })
        })
        .collect()
}

/// A metadata struct of string values (a match, or an endpoint's labels).
pub(super) fn string_labels(s: Option<&Struct>) -> Result<BTreeMap<String, String>, FieldError> {
    let Some(s) = s else {
        return Ok(BTreeMap::new());
    };
    s.fields
        .iter()
        .map(|(k, v)| match &v.kind {
            Some(value::Kind::StringValue(v)) => Ok((k.clone(), v.clone())),
            _ => Err(FieldError::new(format!(
                "{k:?}: only string values are supported"
            ))),
        })
        .collect()
}

fn downstream_tls(tls: &DownstreamTlsContext) -> Result<TransportSocket, FieldError> {
    let unsupported = [
        (
            "require_sni",
            tls.require_sni.as_ref().is_some_and(|b| b.value),
        ),
        ("ocsp_staple_policy", tls.ocsp_staple_policy != 0),
        (
            "session_ticket_keys",
            tls.session_ticket_keys_type.is_some(),
        ),
    ];
    refuse(&unsupported)?;
    let role = TlsRole::Server {
        require_client_certificate: tls
            .require_client_certificate
            .as_ref()
            .is_some_and(|b| b.value),
    };
    common(tls.common_tls_context.as_ref(), role)
}

fn upstream_tls(tls: &UpstreamTlsContext) -> Result<TransportSocket, FieldError> {
    let unsupported = [
        ("auto_host_sni", tls.auto_host_sni),
        ("auto_sni_san_validation", tls.auto_sni_san_validation),
        ("allow_renegotiation", tls.allow_renegotiation),
    ];
    refuse(&unsupported)?;
    let role = TlsRole::Client {
        sni: Some(tls.sni.clone()).filter(|s| !s.is_empty()),
    };
    common(tls.common_tls_context.as_ref(), role)
}

fn common(c: Option<&CommonTlsContext>, role: TlsRole) -> Result<TransportSocket, FieldError> {
    let c = c.cloned().unwrap_or_default();
    let unsupported = [
        (
            "tls_certificate_provider_instance",
            c.tls_certificate_provider_instance.is_some(),
        ),
        (
            "custom_tls_certificate_selector",
            c.custom_tls_certificate_selector.is_some(),
        ),
        ("custom_handshaker", c.custom_handshaker.is_some()),
        ("key_log", c.key_log.is_some()),
    ];
    refuse(&unsupported).map_err(|e| e.at("common_tls_context"))?;
    #[allow(deprecated)]
    let providers = c.tls_certificate_certificate_provider.is_some()
        || c.tls_certificate_certificate_provider_instance.is_some();
    if providers {
        return Err(
            FieldError::new("certificate providers are not supported").at("common_tls_context")
        );
    }
    let mut certificates = c
        .tls_certificate_sds_secret_configs
        .iter()
        .map(sds_name)
        .collect::<Result<Vec<_>, _>>()?;
    for cert in &c.tls_certificates {
        if cert.private_key_provider.is_some() || cert.watched_directory.is_some() {
            return Err(
                "tls_certificates: private_key_provider and watched_directory are not supported"
                    .into(),
            );
        }
        certificates.push(CertificateSource::Files {
            certificate_chain: file(cert.certificate_chain.as_ref(), "certificate_chain")?,
            private_key: Some(file(cert.private_key.as_ref(), "private_key")?),
        });
    }
    let validation = match &c.validation_context_type {
        None => None,
        Some(common_tls_context::ValidationContextType::ValidationContext(v)) => {
            Some(validation_context(v, None)?)
        }
        Some(common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(s)) => {
            Some(PeerValidation {
                trusted_ca: Some(sds_name(s)?),
                subject_alt_names: Vec::new(),
            })
        }
        Some(common_tls_context::ValidationContextType::CombinedValidationContext(combined)) => {
            let sds = combined
                .validation_context_sds_secret_config
                .as_ref()
                .map(sds_name)
                .transpose()?;
            let default = combined
                .default_validation_context
                .clone()
                .unwrap_or_default();
            Some(validation_context(&default, sds)?)
        }
        #[allow(deprecated)]
        Some(_) => return Err("validation context certificate providers are not supported".into()),
    };
    let params = c.tls_params.clone().unwrap_or_default();
    let (min_version, max_version) = versions(&params)?;
    Ok(TransportSocket::Tls(Box::new(TlsContext {
        role,
        certificates,
        validation,
        alpn_protocols: c.alpn_protocols.clone(),
        min_version,
        max_version,
        cipher_suites: params.cipher_suites.clone(),
    })))
}

fn validation_context(
    v: &CertificateValidationContext,
    sds: Option<CertificateSource>,
) -> Result<PeerValidation, FieldError> {
    let unsupported = [
        (
            "ca_certificate_provider_instance",
            v.ca_certificate_provider_instance.is_some(),
        ),
        ("system_root_certs", v.system_root_certs.is_some()),
        ("watched_directory", v.watched_directory.is_some()),
        (
            "verify_certificate_spki",
            !v.verify_certificate_spki.is_empty(),
        ),
        (
            "verify_certificate_hash",
            !v.verify_certificate_hash.is_empty(),
        ),
        (
            "require_signed_certificate_timestamp",
            v.require_signed_certificate_timestamp.is_some(),
        ),
        ("crl", v.crl.is_some()),
        ("allow_expired_certificate", v.allow_expired_certificate),
        ("trust_chain_verification", v.trust_chain_verification != 0),
        (
            "custom_validator_config",
            v.custom_validator_config.is_some(),
        ),
    ];
    refuse(&unsupported).map_err(|e| e.at("validation_context"))?;
    let trusted_ca = match (&v.trusted_ca, sds) {
        (Some(_), Some(_)) => {
            return Err(
                "validation_context: trusted_ca and an SDS validation context both set".into(),
            );
        }
        (Some(ca), None) => Some(CertificateSource::Files {
            certificate_chain: file(Some(ca), "trusted_ca")?,
            private_key: None,
        }),
        (None, sds) => sds,
    };
    #[allow(deprecated)]
    let untyped = v.match_subject_alt_names.iter();
    let typed = v
        .match_typed_subject_alt_names
        .iter()
        .filter_map(|m| m.matcher.as_ref());
    let subject_alt_names = untyped
        .chain(typed)
        .map(san_matcher)
        .collect::<Result<_, _>>()
        .map_err(|e| e.at("validation_context"))?;
    Ok(PeerValidation {
        trusted_ca,
        subject_alt_names,
    })
}

fn san_matcher(m: &StringMatcher) -> Result<SanMatcher, FieldError> {
    if m.ignore_case {
        return Err("match_subject_alt_names: ignore_case is not supported".into());
    }
    Ok(match &m.match_pattern {
        Some(string_matcher::MatchPattern::Exact(v)) => SanMatcher::Exact(v.clone()),
        Some(string_matcher::MatchPattern::Prefix(v)) => SanMatcher::Prefix(v.clone()),
        Some(string_matcher::MatchPattern::Suffix(v)) => SanMatcher::Suffix(v.clone()),
        Some(string_matcher::MatchPattern::Contains(v)) => SanMatcher::Contains(v.clone()),
        Some(string_matcher::MatchPattern::SafeRegex(r)) => {
            regex::Regex::new(&r.regex).map_err(|e| {
                FieldError::new(format!("match_subject_alt_names: regex {:?}: {e}", r.regex))
            })?;
            SanMatcher::Regex(r.regex.clone())
        }
        _ => return Err("match_subject_alt_names: this matcher is not supported".into()),
    })
}

fn sds_name(s: &SdsSecretConfig) -> Result<CertificateSource, FieldError> {
    if s.name.is_empty() {
        return Err("an SDS secret config without a name".into());
    }
    Ok(CertificateSource::Sds(s.name.clone()))
}

/// A PEM data source: only files are read (inline keys in xDS would put secrets in
/// the control plane's config dumps).
fn file(d: Option<&DataSource>, field: &str) -> Result<String, FieldError> {
    match d.and_then(|d| d.specifier.as_ref()) {
        Some(data_source::Specifier::Filename(f)) => Ok(f.clone()),
        _ => Err(FieldError::new(format!(
            "{field}: only a filename is supported"
        ))),
    }
}

fn versions(p: &TlsParameters) -> Result<(TlsVersion, TlsVersion), FieldError> {
    use tls_parameters::TlsProtocol;
    let version = |v: i32, field: &str| match TlsProtocol::try_from(v) {
        Ok(TlsProtocol::TlsAuto) => Ok(TlsVersion::Auto),
        Ok(TlsProtocol::TlSv12) => Ok(TlsVersion::Tls12),
        Ok(TlsProtocol::TlSv13) => Ok(TlsVersion::Tls13),
        _ => Err(FieldError::new(format!(
            "tls_params.{field}: only TLS 1.2 and 1.3 are supported"
        ))),
    };
    Ok((
        version(
            p.tls_minimum_protocol_version,
            "tls_minimum_protocol_version",
        )?,
        version(
            p.tls_maximum_protocol_version,
            "tls_maximum_protocol_version",
        )?,
    ))
}

fn refuse(unsupported: &[(&str, bool)]) -> Result<(), FieldError> {
    match unsupported.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(FieldError::new(format!("{field} is not supported yet"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
