//! One app probe, run as the kubelet would run it: an HTTP(S) GET whose status code
//! is passed back (the kubelet counts 200–399 as success), a TCP connect, or a gRPC
//! health check (`grpc`). HTTPS is not verified, as the kubelet does not verify it
//! either.
//!
//! Probes of the pod's own IP leave from 127.0.0.6: the redirect rules let that
//! source through to the app (Istio's inbound passthrough address) instead of
//! sending the proxy's own connection back into its inbound listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mesh_api::inject::AppProber;
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};

mod grpc;

/// The source address the redirect rules never capture (Istio's
/// `InboundPassthroughBindIpv4`).
const PASSTHROUGH_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);
/// The kubelet's default probe timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `prober` against the app; `Ok` with the status code to answer the kubelet.
pub async fn run(prober: &AppProber, pod_ip: IpAddr) -> Result<StatusCode, String> {
    let timeout = match prober.timeout_seconds {
        n if n > 0 => Duration::from_secs(u64::from(n.unsigned_abs())),
        _ => DEFAULT_TIMEOUT,
    };
    let attempt = async {
        if let Some(http) = &prober.http_get {
            let host = match &http.host {
                Some(h) if !h.is_empty() => h
                    .parse::<IpAddr>()
                    .map_err(|_| format!("probe host `{h}` is not an IP address"))?,
                _ => pod_ip,
            };
            let target = SocketAddr::new(host, port(&http.port)?);
            let stream = connect(target, pod_ip).await?;
            let path = http
                .path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or("/".into());
            let headers: Vec<(String, String)> = http
                .http_headers
                .iter()
                .flatten()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect();
            if http.scheme.as_deref() == Some("HTTPS") {
                let tls = tls_connect(stream, host).await?;
                get(tls, target, &path, &headers).await
            } else {
                get(stream, target, &path, &headers).await
            }
        } else if let Some(tcp) = &prober.tcp_socket {
            let host = match &tcp.host {
                Some(h) if !h.is_empty() => h.parse().map_err(|_| format!("bad host `{h}`"))?,
                _ => pod_ip,
            };
            connect(SocketAddr::new(host, port(&tcp.port)?), pod_ip).await?;
            Ok(StatusCode::OK)
        } else if let Some(grpc) = &prober.grpc {
            let target = SocketAddr::new(pod_ip, port(&IntOrString::Int(grpc.port))?);
            let stream = connect(target, pod_ip).await?;
            grpc::check(stream, target, grpc.service.as_deref().unwrap_or_default()).await
        } else {
            Err("the probe has no httpGet, tcpSocket or grpc".to_string())
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

fn port(port: &IntOrString) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("port {n} is out of range")),
        IntOrString::String(s) => s
            .parse()
            .map_err(|_| format!("named port `{s}` was not resolved by the injector")),
    }
}

async fn connect(target: SocketAddr, pod_ip: IpAddr) -> Result<TcpStream, String> {
    let socket = match target.ip() {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| e.to_string())?;
    if target.ip() == pod_ip && !pod_ip.is_loopback() && pod_ip.is_ipv4() {
        socket
            .bind(SocketAddr::new(IpAddr::V4(PASSTHROUGH_SOURCE), 0))
            .map_err(|e| format!("cannot bind {PASSTHROUGH_SOURCE}: {e}"))?;
    }
    socket
        .connect(target)
        .await
        .map_err(|e| format!("cannot connect to {target}: {e}"))
}

async fn get<S>(
    stream: S,
    target: SocketAddr,
    path: &str,
    headers: &[(String, String)],
) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let mut request = Request::get(path).header("user-agent", "kube-probe/mesh-proxy");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request = request.header("host", target.to_string());
    }
    for (name, value) in headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad probe request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.status())
}

async fn tls_connect(
    stream: TcpStream,
    host: IpAddr,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::IpAddress(host.into()), stream)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// The kubelet's HTTPS probes skip certificate verification; so do these. The
/// signatures are still checked, so the handshake is a real one.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
