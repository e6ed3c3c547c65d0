//! A transport socket's TLS context as rustls configs, built once per distinct
//! context and shared by every connection that uses it. The configs read the
//! workload's certificate and roots at each handshake (through [`KeySource`] and
//! [`RootsSource`]), so a rotation needs no rebuild.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::ServerName;

use super::material::{KeySource, RootsSource};
use super::verify::{PeerVerifier, SanPattern};
use super::workload::WorkloadTlsWatch;
use crate::config::{TlsContext, TlsRole, TlsVersion};

/// Distinct contexts kept at most; configs change rarely, but a bound keeps a
/// misbehaving control plane from growing the cache forever.
const MAX_CONTEXTS: usize = 1024;

/// What a client connection needs: its config and the name it sends (or a stand-in
/// when the context sets no SNI: rustls then sends none).
#[derive(Debug, Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
}

/// What a server handshake needs, and the local certificate's identity for the
/// `By` element of `x-forwarded-client-cert`.
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    /// The same without ALPN, for clients that offer none of the context's
    /// protocols: BoringSSL (Envoy) then completes the handshake without ALPN,
    /// where rustls would refuse it (Istio's clients offer `istio`, its inbound
    /// contexts `h2` and `http/1.1`).
    config_without_alpn: Arc<ServerConfig>,
    key: KeySource,
    /// The first URI SAN of a file certificate (`key` is static).
    static_uri: Option<String>,
}

impl ServerTls {
    /// The config for a client that offered `offered` (its ClientHello's ALPN).
    pub fn config_for(&self, offered: &[&[u8]]) -> Arc<ServerConfig> {
        let overlap = self
            .config
            .alpn_protocols
            .iter()
            .any(|p| offered.contains(&p.as_slice()));
        if overlap || offered.is_empty() {
            self.config.clone()
        } else {
            self.config_without_alpn.clone()
        }
    }

    /// The first URI SAN of the certificate presented now.
    pub fn local_uri(&self) -> Option<String> {
        match &self.key {
            KeySource::Workload(w) => w.borrow().as_ref().map(|t| t.identity.to_string()),
            // A file's certificate does not change: read once, when the context is built.
            KeySource::Static(_) => self.static_uri.clone(),
        }
    }
}

/// The rustls configs of the contexts in use.
#[derive(Debug)]
pub struct TlsContexts {
    workload: WorkloadTlsWatch,
    servers: Mutex<HashMap<TlsContext, ServerTls>>,
    clients: Mutex<HashMap<TlsContext, ClientTls>>,
}

impl Default for TlsContexts {
    /// A proxy without an identity: TLS from files only.
    fn default() -> TlsContexts {
        TlsContexts::new(super::no_workload_tls())
    }
}

impl TlsContexts {
    pub fn new(workload: WorkloadTlsWatch) -> TlsContexts {
        TlsContexts {
            workload,
            servers: Mutex::default(),
            clients: Mutex::default(),
        }
    }

    /// The workload's material, for views and XFCC.
    pub fn workload(&self) -> &WorkloadTlsWatch {
        &self.workload
    }

    /// The server config of a filter chain's `DownstreamTlsContext`.
    pub fn server(&self, context: &TlsContext) -> Result<ServerTls, String> {
        let mut servers = self.servers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = servers.get(context) {
            return Ok(found.clone());
        }
        let built = server_tls(context, &self.workload)?;
        if servers.len() >= MAX_CONTEXTS {
            servers.clear();
        }
        servers.insert(context.clone(), built.clone());
        Ok(built)
    }

    /// The client config of a cluster's `UpstreamTlsContext`.
    pub fn client(&self, context: &TlsContext) -> Result<ClientTls, String> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = clients.get(context) {
            return Ok(found.clone());
        }
        let built = client_tls(context, &self.workload)?;
        if clients.len() >= MAX_CONTEXTS {
            clients.clear();
        }
        clients.insert(context.clone(), built.clone());
        Ok(built)
    }
}

fn server_tls(context: &TlsContext, workload: &WorkloadTlsWatch) -> Result<ServerTls, String> {
    let TlsRole::Server {
        require_client_certificate,
    } = context.role
    else {
        return Err("a client TLS context on a filter chain".into());
    };
    let key = match context.certificates.first() {
        Some(source) => KeySource::resolve(source, workload)?,
        None => return Err("a server TLS context without a certificate".into()),
    };
    let provider = Arc::new(super::ciphers::provider(&context.cipher_suites)?);
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> =
        match (&context.validation, require_client_certificate) {
            (None, false) => WebPkiClientVerifier::no_client_auth(),
            (validation, require) => {
                let (roots, sans) = peer_validation(validation.as_ref(), workload)?;
                Arc::new(PeerVerifier::new(roots, sans, require))
            }
        };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(context, true))
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(ServerKey(key.clone())));
    let config_without_alpn = Arc::new(config.clone());
    config.alpn_protocols = alpn(&context.alpn_protocols);
    let static_uri = match &key {
        KeySource::Static(certified) => certified
            .end_entity_cert()
            .ok()
            .and_then(|der| mesh_tls::CertificateInfo::parse(der).ok())
            .and_then(|info| info.uris.first().cloned()),
        KeySource::Workload(_) => None,
    };
    Ok(ServerTls {
        config: Arc::new(config),
        config_without_alpn,
        key,
        static_uri,
    })
}

fn client_tls(context: &TlsContext, workload: &WorkloadTlsWatch) -> Result<ClientTls, String> {
    let TlsRole::Client { sni } = &context.role else {
        return Err("a server TLS context on a cluster".into());
    };
    let provider = Arc::new(super::ciphers::provider(&context.cipher_suites)?);
    let (roots, sans) = peer_validation(context.validation.as_ref(), workload)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions(context, false))
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PeerVerifier::new(roots, sans, false)));
    let mut config = match context.certificates.first() {
        Some(source) => builder
            .with_client_cert_resolver(Arc::new(ClientKey(KeySource::resolve(source, workload)?))),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn(&context.alpn_protocols);
    // Envoy sends no SNI unless the context names one.
    config.enable_sni = sni.is_some();
    let server_name = match sni {
        Some(name) => ServerName::try_from(name.clone())
            .map_err(|e| format!("sni {name:?} is not a DNS name: {e}"))?,
        None => ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into()),
    };
    Ok(ClientTls {
        config: Arc::new(config),
        server_name,
    })
}

fn peer_validation(
    validation: Option<&crate::config::PeerValidation>,
    workload: &WorkloadTlsWatch,
) -> Result<(Option<RootsSource>, Vec<SanPattern>), String> {
    let Some(v) = validation else {
        return Ok((None, Vec::new()));
    };
    let roots = v
        .trusted_ca
        .as_ref()
        .map(|source| RootsSource::resolve(source, workload))
        .transpose()?;
    let sans = v
        .subject_alt_names
        .iter()
        .map(SanPattern::compile)
        .collect::<Result<_, _>>()?;
    Ok((roots, sans))
}

/// Envoy's defaults: TLS 1.2 at least; at most 1.3 as a server, 1.2 as a client.
fn versions(context: &TlsContext, server: bool) -> Vec<&'static SupportedProtocolVersion> {
    let min = match context.min_version {
        TlsVersion::Tls13 => 13,
        TlsVersion::Auto | TlsVersion::Tls12 => 12,
    };
    let max = match context.max_version {
        TlsVersion::Tls12 => 12,
        TlsVersion::Tls13 => 13,
        TlsVersion::Auto if server => 13,
        TlsVersion::Auto => 12,
    };
    let mut out = Vec::new();
    if min <= 13 && max >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if min <= 12 && max >= 12 {
        out.push(&rustls::version::TLS12);
    }
    out
}

fn alpn(protocols: &[String]) -> Vec<Vec<u8>> {
    protocols.iter().map(|p| p.as_bytes().to_vec()).collect()
}

/// The server's certificate, the workload's current one or a file's.
#[derive(Debug)]
struct ServerKey(KeySource);

impl ResolvesServerCert for ServerKey {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current()
    }
}

/// The client certificate, sent when the server asks.
#[derive(Debug)]
struct ClientKey(KeySource);

impl ResolvesClientCert for ClientKey {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.current()
    }

    fn has_certs(&self) -> bool {
        true
    }
}
