//! The workload certificate on the admin pages, in Envoy's shapes, so that
//! `meshctl proxy-config secret` reads mesh-proxy and Envoy alike: the
//! `SecretsConfigDump` entry of `/config_dump` (`default` and `ROOTCA`, PEM as base64
//! `inline_bytes`, the key redacted as Envoy redacts it) and `/certs`.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use mesh_tls::CertificateInfo;
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

use crate::identity::{IdentityStatus, WorkloadCertificate};

/// Envoy's type URLs, as `/config_dump` names its parts.
const SECRETS_CONFIG_DUMP: &str = "type.googleapis.com/envoy.admin.v3.SecretsConfigDump";
const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
/// What Envoy shows instead of a private key: base64 of `[redacted]`.
const REDACTED: &str = "W3JlZGFjdGVkXQ==";

/// The `SecretsConfigDump` of `/config_dump`: empty without a certificate.
pub(super) fn secrets_config_dump(
    certificate: Option<&WorkloadCertificate>,
    status: Option<&IdentityStatus>,
) -> Value {
    let Some(cert) = certificate else {
        return json!({ "@type": SECRETS_CONFIG_DUMP });
    };
    let last_updated = status
        .and_then(IdentityStatus::last_updated)
        .unwrap_or(cert.info.not_before);
    let entry = |name: &str, version: String, body: Value| {
        let mut secret = json!({ "@type": SECRET, "name": name });
        if let (Some(secret), Value::Object(body)) = (secret.as_object_mut(), body) {
            secret.extend(body);
        }
        json!({
            "name": name,
            "version_info": version,
            "last_updated": timestamp(last_updated, true),
            "secret": secret,
        })
    };
    json!({
        "@type": SECRETS_CONFIG_DUMP,
        "dynamic_active_secrets": [
            entry("default", cert.info.serial.clone(), json!({
                "tls_certificate": {
                    "certificate_chain": { "inline_bytes": base64(cert.chain_pem()) },
                    "private_key": { "inline_bytes": REDACTED },
                }
            })),
            entry("ROOTCA", cert.roots_version(), json!({
                "validation_context": {
                    "trusted_ca": { "inline_bytes": base64(cert.roots_pem()) },
                }
            })),
        ],
    })
}

/// Envoy's `/certs`: the trust bundle and the chain in use, one entry.
pub(super) fn certs(certificate: Option<&WorkloadCertificate>, now: SystemTime) -> Value {
    let Some(cert) = certificate else {
        return json!({ "certificates": [] });
    };
    json!({
        "certificates": [{
            "ca_cert": details(&cert.roots, now),
            "cert_chain": details(&cert.chain, now),
        }]
    })
}

/// Why `/healthz/ready` says no, if the identity is what holds it back.
pub(super) fn not_ready(
    status: Option<&IdentityStatus>,
    certificate: Option<&WorkloadCertificate>,
) -> Option<String> {
    let status = status?;
    if certificate.is_some() {
        return None;
    }
    let why = status
        .last_error()
        .unwrap_or_else(|| "waiting for the CA's answer".to_string());
    Some(format!(
        "not ready: no workload certificate for {} from the CA at {}: {why}\n",
        status.id, status.ca_address
    ))
}

fn details(certificates: &[CertificateDer<'static>], now: SystemTime) -> Vec<Value> {
    certificates
        .iter()
        .filter_map(|c| CertificateInfo::parse(c).ok())
        .map(|info| {
            let sans: Vec<Value> = info
                .uris
                .iter()
                .map(|u| json!({ "uri": u }))
                .chain(info.dns_names.iter().map(|d| json!({ "dns": d })))
                .chain(
                    info.ip_addresses
                        .iter()
                        .map(|ip| json!({ "ip_address": ip.to_string() })),
                )
                .collect();
            json!({
                "path": "<inline>",
                "serial_number": info.serial,
                "subject_alt_names": sans,
                // uint64 in proto3 JSON: a string, as Envoy prints it.
                "days_until_expiration": (info.remaining(now).as_secs() / 86_400).to_string(),
                "valid_from": timestamp(info.not_before, false),
                "expiration_time": timestamp(info.not_after, false),
            })
        })
        .collect()
}

fn base64(pem: String) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem)
}

/// RFC 3339 in UTC, as protobuf's JSON writes a Timestamp (`millis`: with `.mmm`).
pub(crate) fn timestamp(t: SystemTime, millis: bool) -> String {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    );
    if millis {
        out.push_str(&format!(".{:03}", since.subsec_millis()));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
