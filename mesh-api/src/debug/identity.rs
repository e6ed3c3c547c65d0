//! `/debug/tokens` and `/debug/certificates`: the CA's side of the debug endpoint.
//! `meshctl token create` posts a [`TokenRequest`] and prints the token of the
//! [`TokenResponse`]; `/debug/certificates` lists what the CA issued, by workload.

use serde::{Deserialize, Serialize};

/// The body of `POST /debug/tokens`: `{"workload": "web-1.shop", "serviceAccount":
/// "web", "ttl": "24h"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// `NAME.NAMESPACE`: the pod or WorkloadEntry name and its namespace.
    pub workload: String,
    #[serde(alias = "service_account")]
    pub service_account: String,
    /// How long the token is good for, as a duration (`24h`); absent: the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// The answer to a [`TokenRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The JWT, to give the proxy (`mesh-proxy --token-file`).
    pub token: String,
    /// The SPIFFE ID the token proves.
    pub identity: String,
    /// `NAME.NAMESPACE`.
    pub workload: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// `GET /debug/certificates`: what the CA issued, newest last, by workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificates {
    pub workloads: Vec<WorkloadCertificates>,
}

/// The certificates issued to one workload (or, for renewals whose first certificate
/// is no longer remembered, to one identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadCertificates {
    /// `NAME.NAMESPACE`, or `""` when unknown.
    pub workload: String,
    pub identity: String,
    pub certificates: Vec<IssuedCertificate>,
}

/// One issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCertificate {
    /// Hex, as `openssl x509 -serial` prints it.
    pub serial: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    pub not_after: String,
    pub issued_at: String,
    /// What the caller proved itself with: `token` or `certificate`.
    pub credential: String,
}
