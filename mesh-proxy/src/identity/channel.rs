//! How the proxy reaches its control plane (xDS and the CA) once it has an identity:
//! TLS verified against the trust bundle (`--root-cert`) with webpki's standard name
//! check against the host it dials (an IP address or a DNS name), ALPN h2; the
//! workload token as `authorization: Bearer` on every call; and the workload
//! certificate as the client certificate once one is held. Once the token has
//! expired, the certificate alone proves who the proxy is (the control plane
//! refuses an expired token even beside a good certificate).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::codegen::Service;
use tonic::codegen::http::Uri;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use super::CertificateWatch;

/// How long a connection attempt to the control plane may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The proxy's credentials toward the control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneCredentials {
    root_cert: PathBuf,
    token_file: Option<PathBuf>,
    certificates: CertificateWatch,
    /// The last trust bundle read, kept when a later read fails.
    roots: Arc<Mutex<Arc<[CertificateDer<'static>]>>>,
}

/// Why the proxy cannot connect or authenticate.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("--root-cert {path}: {reason}; give the control plane's root certificate (PEM)")]
    RootCert { path: String, reason: String },
    #[error(
        "--token-file {path}: {reason}; write a workload token there \
         (`meshctl token create --workload NAME.NS --service-account SA`)"
    )]
    Token { path: String, reason: String },
    #[error("no workload token (--token-file) and no valid workload certificate to present")]
    NoCredential,
    #[error("control plane address {address:?}: {reason} (expected HOST:PORT)")]
    Address { address: String, reason: String },
    #[error("cannot build the TLS client config: {0}")]
    Tls(#[from] rustls::Error),
}

/// Dials one address and does the TLS handshake: tonic's connector.
#[derive(Debug, Clone)]
struct TlsConnector {
    address: String,
    server_name: ServerName<'static>,
    credentials: ControlPlaneCredentials,
}

impl ControlPlaneCredentials {
    /// Reads the trust bundle now, so that a wrong `--root-cert` stops the start.
    pub fn new(
        root_cert: PathBuf,
        token_file: Option<PathBuf>,
        certificates: CertificateWatch,
    ) -> Result<ControlPlaneCredentials, CredentialError> {
        let roots = read_roots(&root_cert)?;
        Ok(ControlPlaneCredentials {
            root_cert,
            token_file,
            certificates,
            roots: Arc::new(Mutex::new(roots.into())),
        })
    }

    /// The trust bundle, re-read from `--root-cert` so that a replaced bundle (a root
    /// rotation) takes effect at the next connection; the last good one if the file
    /// cannot be read now.
    pub fn roots(&self) -> Arc<[CertificateDer<'static>]> {
        let mut cached = self.roots.lock().unwrap_or_else(PoisonError::into_inner);
        match read_roots(&self.root_cert) {
            Ok(fresh) if *fresh != **cached => *cached = fresh.into(),
            Ok(_) => {}
            Err(e) => tracing::warn!("{e}; keeping the trust bundle read before"),
        }
        cached.clone()
    }

    /// A channel to `address` (`HOST:PORT`) over TLS with these credentials; it
    /// connects on first use.
    pub fn channel(&self, address: &str) -> Result<Channel, CredentialError> {
        let bad = |reason: String| CredentialError::Address {
            address: address.to_string(),
            reason,
        };
        let host = host_of(address).ok_or_else(|| bad("no port".into()))?;
        let server_name = ServerName::try_from(host.to_string()).map_err(|e| {
            bad(format!(
                "{host:?} is neither an IP address nor a DNS name: {e}"
            ))
        })?;
        // `http`: the connector does the TLS; with `https` tonic would look for a TLS
        // config of its own.
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT);
        Ok(endpoint.connect_with_connector_lazy(TlsConnector {
            address: address.to_string(),
            server_name,
            credentials: self.clone(),
        }))
    }

    /// Adds `authorization: Bearer <token>`, read from `--token-file` at each call so
    /// that a rotated token is used at once. Without a readable, unexpired token, a
    /// valid workload certificate (the client certificate) is credential enough.
    pub fn authorize<T>(&self, request: &mut tonic::Request<T>) -> Result<(), CredentialError> {
        let certified = self.current_certificate().is_some();
        let token = match self.token() {
            Ok(token) if certified && token_expired(&token, SystemTime::now()) => {
                tracing::debug!(
                    "the token in --token-file has expired; authenticating with the workload certificate"
                );
                return Ok(());
            }
            Ok(token) => token,
            Err(e) if certified => {
                tracing::debug!("{e}; authenticating with the workload certificate alone");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let value = MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
            self.token_error("holds characters a gRPC header cannot carry".to_string())
        })?;
        request.metadata_mut().insert("authorization", value);
        Ok(())
    }

    fn token(&self) -> Result<String, CredentialError> {
        let Some(path) = &self.token_file else {
            return Err(CredentialError::NoCredential);
        };
        // A small local file, read once per call to the control plane.
        let text = std::fs::read_to_string(path)
            .map_err(|e| self.token_error(format!("cannot read it: {e}")))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(self.token_error("it is empty".to_string()));
        }
        Ok(token.to_string())
    }

    fn token_error(&self, reason: String) -> CredentialError {
        CredentialError::Token {
            path: self
                .token_file
                .as_deref()
                .map_or_else(String::new, |p| p.display().to_string()),
            reason,
        }
    }

    fn current_certificate(&self) -> Option<Arc<super::WorkloadCertificate>> {
        self.certificates
            .borrow()
            .clone()
            .filter(|c| c.valid_at(SystemTime::now()))
    }

    /// The client config for one connection: the current roots and certificate.
    fn client_config(&self) -> Result<ClientConfig, CredentialError> {
        let mut store = RootCertStore::empty();
        for root in self.roots().iter() {
            store.add(root.clone())?;
        }
        let builder = ClientConfig::builder_with_provider(mesh_tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(store);
        let mut config = match self.current_certificate() {
            Some(cert) => {
                builder.with_client_auth_cert(cert.chain.clone(), cert.key.clone_key())?
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

impl Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let config = this
                .credentials
                .client_config()
                .map_err(std::io::Error::other)?;
            let tcp = TcpStream::connect(&this.address).await?;
            tcp.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(this.server_name, tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}

/// Every certificate in the bundle, each one usable as a trust anchor.
fn read_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, CredentialError> {
    let error = |reason: String| CredentialError::RootCert {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    let roots = mesh_tls::certificates_from_pem(&pem, &path.display().to_string())
        .map_err(|e| error(e.to_string()))?;
    let mut store = RootCertStore::empty();
    for root in &roots {
        store
            .add(root.clone())
            .map_err(|e| error(format!("not a usable root certificate: {e}")))?;
    }
    Ok(roots)
}

/// Whether a JWT's `exp` claim has passed. Read without verifying: only to decide
/// whether to send it; a token that is not a JWT counts as unexpired.
fn token_expired(token: &str, now: SystemTime) -> bool {
    let exp = token
        .split('.')
        .nth(1)
        .and_then(|claims| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
        .and_then(|claims| claims["exp"].as_u64());
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    exp.is_some_and(|exp| exp <= since_epoch)
}

/// The host of `HOST:PORT` or `[V6]:PORT`, without brackets.
fn host_of(address: &str) -> Option<&str> {
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_jwts_are_told_from_live_ones_and_opaque_tokens() {
        let jwt = |exp: u64| {
            let claims = format!(r#"{{"sub":"spiffe://cluster.local/ns/a/sa/b","exp":{exp}}}"#);
            let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!("{}.{}.sig", encode(r#"{"alg":"ES256"}"#), encode(&claims))
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert!(token_expired(&jwt(999_999), now));
        assert!(!token_expired(&jwt(1_000_001), now));
        assert!(!token_expired("an-opaque-token", now));
        assert!(!token_expired("a.!!!.c", now));
    }

    #[test]
    fn hosts_are_ip_addresses_or_dns_names() {
        assert_eq!(host_of("10.0.0.5:15012"), Some("10.0.0.5"));
        assert_eq!(host_of("[::1]:15012"), Some("::1"));
        assert_eq!(
            host_of("istiod.mesh-system.svc:15012"),
            Some("istiod.mesh-system.svc")
        );
        assert_eq!(host_of("10.0.0.5"), None);
        assert_eq!(host_of(":15012"), None);
        assert_eq!(host_of("host:http"), None);
    }
}
