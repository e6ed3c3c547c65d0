//! Port protocols, selected from a port's `appProtocol` or name as Istio selects them.

use std::fmt;

/// The protocol of a service port.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Protocol {
    Http,
    Http2,
    Grpc,
    GrpcWeb,
    Https,
    Tls,
    Tcp,
    Mongo,
    Mysql,
    Redis,
    Udp,
    /// Neither the name nor appProtocol says: the proxy detects HTTP or falls back to TCP.
    Unknown,
}

impl Protocol {
    /// Parses a protocol word (`http`, `grpc-web`, `HTTP2`, …), case-insensitively.
    pub fn parse(word: &str) -> Option<Protocol> {
        Some(match word.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "https" => Protocol::Https,
            "tls" => Protocol::Tls,
            "tcp" => Protocol::Tcp,
            "mongo" => Protocol::Mongo,
            "mysql" => Protocol::Mysql,
            "redis" => Protocol::Redis,
            "udp" => Protocol::Udp,
            _ => return None,
        })
    }

    /// Istio's rule: `appProtocol` wins; else the port name's prefix before the first
    /// `-` (`http-web`, `grpc`, `tcp-db`); else the protocol is detected at run time.
    pub fn for_port(name: Option<&str>, app_protocol: Option<&str>) -> Protocol {
        if let Some(app) = app_protocol {
            // Kubernetes' standard appProtocol values.
            let from_app = match app {
                "kubernetes.io/h2c" => Some(Protocol::Http2),
                "kubernetes.io/ws" => Some(Protocol::Http),
                "kubernetes.io/wss" => Some(Protocol::Https),
                other => Protocol::parse(other),
            };
            if let Some(p) = from_app {
                return p;
            }
        }
        name.and_then(Protocol::from_port_name)
            .unwrap_or(Protocol::Unknown)
    }

    /// The protocol named by a port name following the `<protocol>[-<suffix>]` convention.
    pub fn from_port_name(name: &str) -> Option<Protocol> {
        let lower = name.to_ascii_lowercase();
        // `grpc-web` contains a dash itself, so it is matched before splitting.
        if lower == "grpc-web" || lower.starts_with("grpc-web-") {
            return Some(Protocol::GrpcWeb);
        }
        Protocol::parse(lower.split('-').next().unwrap_or_default())
    }

    /// HTTP-family protocols, routed by the HTTP connection manager.
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http | Protocol::Http2 | Protocol::Grpc | Protocol::GrpcWeb
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Http2 => "HTTP2",
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-Web",
            Protocol::Https => "HTTPS",
            Protocol::Tls => "TLS",
            Protocol::Tcp => "TCP",
            Protocol::Mongo => "Mongo",
            Protocol::Mysql => "MySQL",
            Protocol::Redis => "Redis",
            Protocol::Udp => "UDP",
            Protocol::Unknown => "UnsupportedProtocol",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_name_prefix_selects_protocol() {
        assert_eq!(Protocol::for_port(Some("http"), None), Protocol::Http);
        assert_eq!(Protocol::for_port(Some("http-web"), None), Protocol::Http);
        assert_eq!(Protocol::for_port(Some("HTTP2-x"), None), Protocol::Http2);
        assert_eq!(
            Protocol::for_port(Some("grpc-web"), None),
            Protocol::GrpcWeb
        );
        assert_eq!(Protocol::for_port(Some("grpc-api"), None), Protocol::Grpc);
        assert_eq!(Protocol::for_port(Some("tcp-db"), None), Protocol::Tcp);
        assert_eq!(Protocol::for_port(Some("web"), None), Protocol::Unknown);
        assert_eq!(Protocol::for_port(Some("httpx"), None), Protocol::Unknown);
        assert_eq!(Protocol::for_port(None, None), Protocol::Unknown);
    }

    #[test]
    fn app_protocol_wins_over_the_name() {
        assert_eq!(
            Protocol::for_port(Some("tcp"), Some("http")),
            Protocol::Http
        );
        assert_eq!(
            Protocol::for_port(Some("web"), Some("kubernetes.io/h2c")),
            Protocol::Http2
        );
        // An appProtocol Istio does not know falls back to the name.
        assert_eq!(
            Protocol::for_port(Some("grpc"), Some("example.com/x")),
            Protocol::Grpc
        );
    }
}
