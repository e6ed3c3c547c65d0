//! What a certificate says, read once from its DER: what admin pages and
//! `meshctl proxy-config secret` show, and the SPIFFE ID a peer proves.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use mesh_api::identity::SpiffeId;
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// Why a certificate could not be read, or names no workload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("not a DER X.509 certificate: {0}")]
    Malformed(String),
    #[error("the certificate has no spiffe:// URI SAN (SANs: {0})")]
    NoSpiffeId(String),
    #[error("the certificate names {count} SPIFFE IDs; a workload certificate names one")]
    SeveralSpiffeIds { count: usize },
    #[error(transparent)]
    BadSpiffeId(#[from] mesh_api::identity::SpiffeIdError),
}

/// The facts of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// The serial number in hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    pub subject: String,
    pub issuer: String,
    #[serde(with = "unix_seconds")]
    pub not_before: SystemTime,
    #[serde(with = "unix_seconds")]
    pub not_after: SystemTime,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub uris: Vec<String>,
    /// Whether it may sign certificates (a CA's).
    pub is_ca: bool,
}

impl CertificateInfo {
    pub fn parse(der: &CertificateDer<'_>) -> Result<CertificateInfo, CertificateError> {
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        let mut info = CertificateInfo {
            serial: cert.raw_serial_as_string().replace(':', ""),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: system_time(cert.validity().not_before.timestamp()),
            not_after: system_time(cert.validity().not_after.timestamp()),
            dns_names: Vec::new(),
            ip_addresses: Vec::new(),
            uris: Vec::new(),
            is_ca: cert.is_ca(),
        };
        let sans = cert
            .subject_alternative_name()
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        for name in sans.iter().flat_map(|s| s.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(n) => info.dns_names.push(n.to_string()),
                GeneralName::URI(u) => info.uris.push(u.to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        info.ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// The one SPIFFE ID among the URI SANs.
    pub fn spiffe_id(&self) -> Result<SpiffeId, CertificateError> {
        let spiffe: Vec<&String> = self
            .uris
            .iter()
            .filter(|u| u.starts_with("spiffe://"))
            .collect();
        match spiffe.as_slice() {
            [one] => Ok(one.parse()?),
            [] => Err(CertificateError::NoSpiffeId(self.sans_text())),
            several => Err(CertificateError::SeveralSpiffeIds {
                count: several.len(),
            }),
        }
    }

    /// Time left before `not_after` at `now` (zero once expired).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.not_after.duration_since(now).unwrap_or_default()
    }

    fn sans_text(&self) -> String {
        let all: Vec<String> = self
            .dns_names
            .iter()
            .map(|d| format!("DNS:{d}"))
            .chain(self.ip_addresses.iter().map(|i| format!("IP:{i}")))
            .chain(self.uris.iter().map(|u| format!("URI:{u}")))
            .collect();
        if all.is_empty() {
            "none".to_string()
        } else {
            all.join(", ")
        }
    }
}

/// The SPIFFE ID a (leaf) certificate proves.
pub fn identity_of(der: &CertificateDer<'_>) -> Result<SpiffeId, CertificateError> {
    CertificateInfo::parse(der)?.spiffe_id()
}

fn system_time(unix: i64) -> SystemTime {
    match u64::try_from(unix) {
        Ok(secs) => SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

/// Times as seconds since the Unix epoch, in JSON.
mod unix_seconds {
    use std::time::SystemTime;

    pub(super) fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        s.serialize_u64(secs)
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair, SanType};

    use super::*;

    fn certificate(sans: Vec<SanType>) -> CertificateDer<'static> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("signs").der().clone()
    }

    fn uri(u: &str) -> SanType {
        SanType::URI(u.try_into().expect("ia5"))
    }

    #[test]
    fn a_workload_certificate_proves_its_spiffe_id() {
        let der = certificate(vec![uri("spiffe://cluster.local/ns/shop/sa/reviews")]);
        let id = identity_of(&der).expect("a workload certificate");
        assert_eq!(id.to_string(), "spiffe://cluster.local/ns/shop/sa/reviews");
    }

    #[test]
    fn certificates_without_exactly_one_spiffe_id_prove_nothing() {
        let dns = certificate(vec![SanType::DnsName(
            "example.com".try_into().expect("ia5"),
        )]);
        let error = identity_of(&dns).expect_err("no SPIFFE ID");
        assert!(error.to_string().contains("DNS:example.com"), "{error}");
        let two = certificate(vec![
            uri("spiffe://cluster.local/ns/a/sa/x"),
            uri("spiffe://cluster.local/ns/b/sa/y"),
        ]);
        assert!(matches!(
            identity_of(&two),
            Err(CertificateError::SeveralSpiffeIds { count: 2 })
        ));
        let bad = certificate(vec![uri("spiffe://cluster.local/workload/x")]);
        assert!(matches!(
            identity_of(&bad),
            Err(CertificateError::BadSpiffeId(_))
        ));
    }

    #[test]
    fn facts_are_read_from_the_certificate() {
        let der = certificate(vec![
            SanType::IpAddress([10, 0, 0, 1].into()),
            uri("spiffe://td/ns/n/sa/s"),
        ]);
        let info = CertificateInfo::parse(&der).expect("parses");
        assert_eq!(info.ip_addresses, vec![IpAddr::from([10, 0, 0, 1])]);
        assert!(!info.serial.is_empty());
        assert!(info.not_after > info.not_before);
        assert!(!info.is_ca);
        let garbage = CertificateDer::from(vec![1, 2, 3]);
        assert!(matches!(
            CertificateInfo::parse(&garbage),
            Err(CertificateError::Malformed(_))
        ));
    }

    #[test]
    fn pem_errors_name_the_source() {
        let error = crate::certificates_from_pem(b"hello", "root-cert.pem").expect_err("no PEM");
        assert!(error.to_string().contains("root-cert.pem"), "{error}");
        let error = crate::private_key_from_pem(b"", "key.pem").expect_err("no key");
        assert!(error.to_string().contains("key.pem"), "{error}");
    }
}
