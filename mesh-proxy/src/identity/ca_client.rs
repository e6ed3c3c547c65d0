//! `CreateCertificate` on the control plane's CA: one unary gRPC call per
//! certificate, on a connection of its own (renewals are hours apart; a connection
//! kept open between them would only cost memory).

use std::error::Error as _;
use std::future::Future;
use std::time::Duration;

use mesh_api::certificate_service::{
    CREATE_CERTIFICATE_PATH, IstioCertificateRequest, IstioCertificateResponse,
};
use tonic::codegen::http::uri::PathAndQuery;

use super::channel::{ControlPlaneCredentials, CredentialError};
use super::codec::ProstCodec;

/// How long one attempt may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs CSRs: the control plane's CA, or a fake in tests.
pub(crate) trait CertificateAuthority: Send + Sync + 'static {
    /// The PEM chain, leaf first, for `csr_pem` valid for `ttl`.
    fn create_certificate(
        &self,
        csr_pem: String,
        ttl: Duration,
    ) -> impl Future<Output = Result<Vec<String>, CaError>> + Send;
}

/// Why the CA gave no certificate.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CaError {
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error("the CA at {address} answered {code:?}: {message}")]
    Refused {
        address: String,
        code: tonic::Code,
        message: String,
    },
    #[error("the CA at {address} did not answer within {CALL_TIMEOUT:?}")]
    Timeout { address: String },
}

/// The CA client over [`ControlPlaneCredentials`].
#[derive(Debug)]
pub(crate) struct CaClient {
    address: String,
    credentials: ControlPlaneCredentials,
}

impl CaClient {
    pub(crate) fn new(address: String, credentials: ControlPlaneCredentials) -> CaClient {
        CaClient {
            address,
            credentials,
        }
    }

    async fn call(&self, csr: String, ttl: Duration) -> Result<Vec<String>, CaError> {
        let channel = self.credentials.channel(&self.address)?;
        let mut request = tonic::Request::new(IstioCertificateRequest {
            csr,
            validity_duration: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        });
        self.credentials.authorize(&mut request)?;
        let mut grpc = tonic::client::Grpc::new(channel);
        let refused = |status: tonic::Status| CaError::Refused {
            address: self.address.clone(),
            code: status.code(),
            message: describe(&status),
        };
        grpc.ready().await.map_err(|e| CaError::Refused {
            address: self.address.clone(),
            code: tonic::Code::Unavailable,
            message: e.to_string(),
        })?;
        let codec = ProstCodec::<IstioCertificateRequest, IstioCertificateResponse>::default();
        let path = PathAndQuery::from_static(CREATE_CERTIFICATE_PATH);
        let response = grpc.unary(request, path, codec).await.map_err(refused)?;
        Ok(response.into_inner().cert_chain)
    }
}

impl CertificateAuthority for CaClient {
    async fn create_certificate(
        &self,
        csr_pem: String,
        ttl: Duration,
    ) -> Result<Vec<String>, CaError> {
        tokio::time::timeout(CALL_TIMEOUT, self.call(csr_pem, ttl))
            .await
            .map_err(|_| CaError::Timeout {
                address: self.address.clone(),
            })?
    }
}

/// The status message and what caused it (a transport error's message alone is
/// "transport error").
fn describe(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source = status.source();
    while let Some(e) = source {
        // Transport errors repeat their source in their own message.
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(&format!(": {part}"));
        }
        source = e.source();
    }
    text
}
