//! The connection manager's `x-forwarded-client-cert` settings
//! (`forward_client_cert_details`, `set_current_client_cert_details`): Istio's
//! sidecars append the client's identity on inbound mTLS so the app can read who
//! called it.

use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::ForwardClientCertDetails,
};
use serde::Serialize;

use super::error::FieldError;

/// What happens to `x-forwarded-client-cert`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ForwardClientCert {
    pub mode: XfccMode,
    /// The fields of the element added for this connection's client certificate.
    pub subject: bool,
    pub uri: bool,
    pub dns: bool,
}

/// Envoy's `ForwardClientCertDetails`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum XfccMode {
    /// The header is removed (Envoy's default).
    #[default]
    Sanitize,
    /// Kept as received on mTLS connections, removed otherwise.
    ForwardOnly,
    /// On mTLS connections this connection's element is appended.
    AppendForward,
    /// On mTLS connections replaced by this connection's element.
    SanitizeSet,
    /// Kept as received on every connection.
    AlwaysForwardOnly,
}

pub(super) fn forward_client_cert(
    hcm: &HttpConnectionManager,
) -> Result<ForwardClientCert, FieldError> {
    let mode = match ForwardClientCertDetails::try_from(hcm.forward_client_cert_details) {
        Ok(ForwardClientCertDetails::Sanitize) => XfccMode::Sanitize,
        Ok(ForwardClientCertDetails::ForwardOnly) => XfccMode::ForwardOnly,
        Ok(ForwardClientCertDetails::AppendForward) => XfccMode::AppendForward,
        Ok(ForwardClientCertDetails::SanitizeSet) => XfccMode::SanitizeSet,
        Ok(ForwardClientCertDetails::AlwaysForwardOnly) => XfccMode::AlwaysForwardOnly,
        Err(_) => {
            return Err(FieldError::new(format!(
                "forward_client_cert_details {} is not a known mode",
                hcm.forward_client_cert_details
            )));
        }
    };
    let details = hcm.set_current_client_cert_details.unwrap_or_default();
    if details.cert || details.chain || details.issuer || details.format != 0 {
        return Err(FieldError::new(
            "set_current_client_cert_details: cert, chain, issuer and format are not supported; \
             subject, uri and dns are",
        ));
    }
    Ok(ForwardClientCert {
        mode,
        subject: details.subject.is_some_and(|b| b.value),
        uri: details.uri,
        dns: details.dns,
    })
}
