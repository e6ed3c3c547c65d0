//! `istio.v1.auth.IstioCertificateService/CreateCertificate`, a unary gRPC method
//! framed by hand like ADS (`xds/server/grpc.rs`): the caller is authenticated
//! before its request is read, and gets a certificate for its own identity only.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::SystemTime;

use hyper::body::Frame;
use mesh_api::certificate_service::{
    CREATE_CERTIFICATE_PATH, IstioCertificateRequest, SERVICE_NAME,
};
use tonic::Status;
use tonic::body::Body as GrpcBody;
use tonic::codegen::{Body, BoxFuture, Bytes, Service, http};
use tonic::server::NamedService;

use super::auth::Authenticator;
use super::sign::SignError;
use crate::xds::server::grpc::{RequestStream, encode_message};

/// The certificate service, as a tower service for tonic's server.
#[derive(Debug, Clone)]
pub struct CertificateService {
    auth: Authenticator,
}

impl CertificateService {
    pub fn new(auth: Authenticator) -> CertificateService {
        CertificateService { auth }
    }
}

impl NamedService for CertificateService {
    const NAME: &'static str = SERVICE_NAME;
}

impl Service<http::Request<GrpcBody>> for CertificateService {
    type Response = http::Response<GrpcBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<GrpcBody>) -> Self::Future {
        let auth = self.auth.clone();
        Box::pin(async move {
            let response = match request.uri().path() {
                CREATE_CERTIFICATE_PATH => create_certificate(&auth, request).await,
                path => Err(Status::unimplemented(format!(
                    "{path}: this service offers only {CREATE_CERTIFICATE_PATH}"
                ))),
            };
            Ok(response.unwrap_or_else(Status::into_http))
        })
    }
}

async fn create_certificate(
    auth: &Authenticator,
    request: http::Request<GrpcBody>,
) -> Result<http::Response<GrpcBody>, Status> {
    let now = SystemTime::now();
    let caller = auth
        .authenticate_request(request.headers(), request.extensions(), now)
        .await
        .inspect_err(|status| {
            tracing::warn!(reason = status.message(), "CreateCertificate refused");
        })?;
    let mut requests = RequestStream::<IstioCertificateRequest>::new(request.into_body());
    let Some(csr) = requests.message().await? else {
        return Err(Status::invalid_argument(
            "the request carries no IstioCertificateRequest",
        ));
    };
    let issued = auth
        .ca()
        .create_certificate(&caller, &csr, now)
        .map_err(|error| {
            tracing::warn!(identity = %caller.identity, %error, "CreateCertificate refused");
            status_of(&error)
        })?;
    tracing::info!(
        identity = %caller.identity,
        workload = caller.workload.as_deref().unwrap_or(""),
        credential = ?caller.credential,
        "issued a workload certificate"
    );
    let mut response = http::Response::new(GrpcBody::new(UnaryBody {
        message: Some(encode_message(&issued)),
        finished: false,
    }));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    Ok(response)
}

fn status_of(error: &SignError) -> Status {
    match error {
        SignError::NoIdentity { .. } | SignError::OtherIdentity { .. } => {
            Status::permission_denied(error.to_string())
        }
        SignError::Signing(_) => Status::internal(error.to_string()),
        _ => Status::invalid_argument(error.to_string()),
    }
}

/// One message, then `grpc-status: 0`.
struct UnaryBody {
    message: Option<Bytes>,
    finished: bool,
}

impl Body for UnaryBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        if let Some(message) = this.message.take() {
            return Poll::Ready(Some(Ok(Frame::data(message))));
        }
        if this.finished {
            return Poll::Ready(None);
        }
        this.finished = true;
        let mut trailers = http::HeaderMap::new();
        match Status::ok("").add_header(&mut trailers) {
            Ok(()) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Err(status) => Poll::Ready(Some(Err(status))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}
