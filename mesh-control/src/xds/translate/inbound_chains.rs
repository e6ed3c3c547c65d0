//! Which filter chains an inbound port (or the passthrough) gets for its mutual TLS
//! mode: Istio's `FilterChainMatchOptions`. Connections are told apart by the TLS
//! inspector (transport `tls` or `raw_buffer`) and by ALPN: an Istio client sidecar
//! offers `istio*` protocols over mTLS, an app's own TLS offers none of them.

use mesh_api::security::MtlsMode;

use super::mtls::{ALL_ISTIO_MTLS_ALPNS, MTLS_HTTP_ALPNS, MTLS_TCP_ALPNS};

/// Application protocols the HTTP inspector reports for plaintext HTTP.
pub(crate) const PLAINTEXT_HTTP_ALPNS: [&str; 3] = ["http/1.0", "http/1.1", "h2c"];
/// The transport protocol the TLS inspector reports for TLS, and Envoy's default.
pub(crate) const TLS: &str = "tls";
pub(crate) const RAW_BUFFER: &str = "raw_buffer";

/// How a port's traffic is handled, as far as its filter chains go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InboundPort {
    /// Declared HTTP: an HTTP connection manager.
    Http,
    /// Not declared: HTTP when it looks like HTTP, else TCP.
    Sniffed,
    /// Opaque TCP (and TLS the app terminates itself).
    Tcp,
}

/// One filter chain of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainOption {
    pub(crate) transport_protocol: &'static str,
    pub(crate) application_protocols: &'static [&'static str],
    /// An HTTP connection manager, else a TCP proxy.
    pub(crate) http: bool,
    /// Whether the chain terminates the mesh's mTLS.
    pub(crate) mtls: bool,
    /// Appended to the port's chain name, so that names stay distinct.
    pub(crate) suffix: &'static str,
}

const fn option(
    transport_protocol: &'static str,
    application_protocols: &'static [&'static str],
    http: bool,
    mtls: bool,
    suffix: &'static str,
) -> ChainOption {
    ChainOption {
        transport_protocol,
        application_protocols,
        http,
        mtls,
        suffix,
    }
}

/// The chains of a port in `mode`. `tls_inspected`: the listener runs the TLS
/// inspector (some port accepts mTLS). Istio then turns the inspector off for ports
/// in DISABLE mode, so that the app's own TLS still reaches them as bytes; here the
/// inspector runs for every port, and such ports get a chain for TLS passed through.
pub(crate) fn chain_options(
    port: InboundPort,
    mode: MtlsMode,
    tls_inspected: bool,
) -> Vec<ChainOption> {
    let strict = matches!(mode, MtlsMode::Strict);
    let permissive = matches!(mode, MtlsMode::Permissive | MtlsMode::Unset);
    let plain_tls = option(TLS, &[], false, false, "-tls");
    let mut out = match (port, strict, permissive) {
        (InboundPort::Http, true, _) => vec![option(TLS, &[], true, true, "-mtls")],
        (InboundPort::Http, _, true) => vec![
            option(TLS, &ALL_ISTIO_MTLS_ALPNS, true, true, "-mtls"),
            option(RAW_BUFFER, &[], true, false, ""),
        ],
        (InboundPort::Http, _, _) => vec![option(RAW_BUFFER, &[], true, false, "")],
        (InboundPort::Sniffed, true, _) => vec![
            option(TLS, &MTLS_HTTP_ALPNS, true, true, "-mtls"),
            option(TLS, &[], false, true, "-mtls-tcp"),
        ],
        (InboundPort::Sniffed, _, true) => vec![
            option(TLS, &MTLS_HTTP_ALPNS, true, true, "-mtls"),
            option(RAW_BUFFER, &PLAINTEXT_HTTP_ALPNS, true, false, ""),
            option(TLS, &MTLS_TCP_ALPNS, false, true, "-mtls-tcp"),
            option(RAW_BUFFER, &[], false, false, "-tcp"),
            plain_tls,
        ],
        (InboundPort::Sniffed, _, _) => vec![
            option(RAW_BUFFER, &PLAINTEXT_HTTP_ALPNS, true, false, ""),
            option(RAW_BUFFER, &[], false, false, "-tcp"),
        ],
        (InboundPort::Tcp, true, _) => vec![option(TLS, &[], false, true, "-mtls")],
        (InboundPort::Tcp, _, true) => vec![
            option(TLS, &ALL_ISTIO_MTLS_ALPNS, false, true, "-mtls"),
            option(RAW_BUFFER, &[], false, false, ""),
            plain_tls,
        ],
        (InboundPort::Tcp, _, _) => vec![option(RAW_BUFFER, &[], false, false, "")],
    };
    if mode == MtlsMode::Disable && tls_inspected && port != InboundPort::Http {
        out.push(plain_tls);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(port: InboundPort, mode: MtlsMode, inspected: bool) -> Vec<(&'static str, bool)> {
        chain_options(port, mode, inspected)
            .iter()
            .map(|o| (o.transport_protocol, o.mtls))
            .collect()
    }

    #[test]
    fn strict_ports_only_take_mtls() {
        for port in [InboundPort::Http, InboundPort::Sniffed, InboundPort::Tcp] {
            for (transport, mtls) in shape(port, MtlsMode::Strict, true) {
                assert_eq!((transport, mtls), (TLS, true), "{port:?}");
            }
        }
    }

    #[test]
    fn permissive_ports_take_mtls_and_plain_text() {
        for port in [InboundPort::Http, InboundPort::Sniffed, InboundPort::Tcp] {
            let s = shape(port, MtlsMode::Permissive, true);
            assert!(s.contains(&(TLS, true)) && s.contains(&(RAW_BUFFER, false)));
        }
        // The app's own TLS (no Istio ALPN) passes through, but on declared HTTP.
        assert!(shape(InboundPort::Tcp, MtlsMode::Permissive, true).contains(&(TLS, false)));
        assert!(!shape(InboundPort::Http, MtlsMode::Permissive, true).contains(&(TLS, false)));
    }

    #[test]
    fn disabled_ports_never_terminate_tls() {
        for port in [InboundPort::Http, InboundPort::Sniffed, InboundPort::Tcp] {
            assert!(
                shape(port, MtlsMode::Disable, false)
                    .iter()
                    .all(|(t, m)| *t == RAW_BUFFER && !m)
            );
            assert!(shape(port, MtlsMode::Disable, true).iter().all(|(_, m)| !m));
        }
        assert!(shape(InboundPort::Tcp, MtlsMode::Disable, true).contains(&(TLS, false)));
    }
}
