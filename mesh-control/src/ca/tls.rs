//! TLS on 15012: a serving certificate from the control plane's own CA (renewed at
//! half-life), ALPN h2, and client certificates optional but, when sent, verified
//! against the trust bundle. Each accepted connection carries its peer's verified
//! certificate to the gRPC handlers ([`TlsPeer`] in the request extensions).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use rcgen::SanType;
use rustls::RootCertStore;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;

use super::CertificateAuthority;
use super::auth::{PeerCertificate, TlsPeer};
use super::sign::serving_certificate;

/// The serving certificate's lifetime; it is renewed at half of it.
pub const SERVING_CERT_TTL: Duration = Duration::from_secs(24 * 3600);

/// A handshake that takes longer is dropped (a stalled client must not hold a task).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot issue the serving certificate: {0}")]
    Certificate(String),
    #[error("the trust bundle (root-cert.pem) cannot verify client certificates: {0}")]
    Roots(String),
    #[error("cannot configure TLS: {0}")]
    Config(String),
}

/// The control plane's serving certificate, swapped whole when renewed.
#[derive(Debug)]
pub struct ServingCertificate {
    current: RwLock<Arc<CertifiedKey>>,
    names: Vec<SanType>,
    ttl: Duration,
}

impl ServingCertificate {
    /// Issues the first certificate for `names`.
    pub fn issue(
        ca: &CertificateAuthority,
        names: Vec<SanType>,
        ttl: Duration,
    ) -> Result<ServingCertificate, TlsSetupError> {
        let current = certified_key(ca, names.clone(), ttl)?;
        Ok(ServingCertificate {
            current: RwLock::new(current),
            names,
            ttl,
        })
    }

    /// The certificate in use: the chain, leaf first.
    pub fn chain(&self) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        self.read().cert.clone()
    }

    /// Renews at half-life, forever; a failed renewal is retried within a minute
    /// while the current certificate keeps serving.
    pub async fn renew(self: Arc<Self>, ca: Arc<CertificateAuthority>) {
        let mut wait = self.ttl / 2;
        loop {
            tokio::time::sleep(wait).await;
            match certified_key(&ca, self.names.clone(), self.ttl) {
                Ok(renewed) => {
                    *self
                        .current
                        .write()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = renewed;
                    tracing::info!("renewed the control plane's serving certificate");
                    wait = self.ttl / 2;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot renew the serving certificate; retrying");
                    wait = Duration::from_secs(60).min(self.ttl / 4);
                }
            }
        }
    }

    fn read(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for ServingCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.read())
    }
}

/// rustls' server config for 15012.
pub fn server_config(
    ca: &CertificateAuthority,
    serving: Arc<ServingCertificate>,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = mesh_tls::provider();
    let mut roots = RootCertStore::empty();
    for root in ca.authority().bundle().roots() {
        roots
            .add(root.clone())
            .map_err(|e| TlsSetupError::Roots(e.to_string()))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        // Token callers have no certificate yet; certificates that are sent are verified.
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsSetupError::Roots(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(serving);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TLS connections on `listener`: each handshake on a task of its own, so
/// that one slow client holds up no other.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> ReceiverStream<Result<TlsConnection, io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                // The server is gone: stop accepting.
                () = tx.closed() => return,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "the TLS port cannot accept connections");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                match handshake.await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(TlsConnection::new(tls, Some(remote)))).await;
                    }
                    // Refused client certificates end here: log them for the operator.
                    Ok(Err(error)) => {
                        tracing::info!(%remote, %error, "TLS handshake failed");
                    }
                    Err(_) => tracing::info!(%remote, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// An accepted TLS connection and what its client proved.
#[derive(Debug)]
pub struct TlsConnection {
    stream: TlsStream<TcpStream>,
    peer: TlsPeer,
}

impl TlsConnection {
    fn new(stream: TlsStream<TcpStream>, remote: Option<std::net::SocketAddr>) -> TlsConnection {
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| match mesh_tls::CertificateInfo::parse(leaf) {
                Ok(info) => PeerCertificate {
                    identity: info.spiffe_id().map_err(|e| e.to_string()),
                    serial: info.serial,
                },
                Err(e) => PeerCertificate {
                    identity: Err(e.to_string()),
                    serial: String::new(),
                },
            });
        TlsConnection {
            stream,
            peer: TlsPeer {
                remote,
                certificate,
            },
        }
    }
}

impl Connected for TlsConnection {
    type ConnectInfo = TlsPeer;

    fn connect_info(&self) -> TlsPeer {
        self.peer.clone()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

fn certified_key(
    ca: &CertificateAuthority,
    names: Vec<SanType>,
    ttl: Duration,
) -> Result<Arc<CertifiedKey>, TlsSetupError> {
    let (signed, key) = serving_certificate(ca.authority(), names, ttl, SystemTime::now())
        .map_err(|e| TlsSetupError::Certificate(e.to_string()))?;
    let key = mesh_tls::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsSetupError::Certificate(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(signed.chain, key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::testing::test_ca;

    #[tokio::test(start_paused = true)]
    async fn the_serving_certificate_is_renewed_at_half_life() {
        let ca = Arc::new(test_ca());
        let names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        let serving =
            Arc::new(ServingCertificate::issue(&ca, names, Duration::from_secs(120)).unwrap());
        let first = serving.chain();
        tokio::spawn(serving.clone().renew(ca));
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(serving.chain(), first);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_ne!(serving.chain()[0], first[0], "renewed after 60 s of 120 s");
    }
}
