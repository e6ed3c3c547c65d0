//! Envoy's SecretDiscoveryService over the certificate watch: each stream runs as a
//! small task that answers Envoy's requests and pushes each new certificate
//! ([`super::streams`] decides what to send). `FetchSecrets` answers once.

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_server::SecretDiscoveryService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::secrets::{SecretResource, secret_resources};
use super::streams::{DeltaStream, SotwStream};
use crate::identity::CertificateWatch;

/// Responses queued per stream before the task waits for Envoy to read.
const QUEUE: usize = 4;

/// The SDS service: what the agent serves on its Unix socket.
#[derive(Debug, Clone)]
pub struct SdsServer {
    certificates: CertificateWatch,
}

/// One stream's protocol, SotW or Delta.
trait SdsStream: Send + 'static {
    type Request: Send + 'static;
    type Response: Send + 'static;
    fn on_request(
        &mut self,
        request: Self::Request,
        secrets: &[SecretResource],
    ) -> Option<Self::Response>;
    fn on_update(&mut self, secrets: &[SecretResource]) -> Option<Self::Response>;
}

impl SdsServer {
    pub fn new(certificates: CertificateWatch) -> SdsServer {
        SdsServer { certificates }
    }

    fn start<S: SdsStream>(
        &self,
        stream: S,
        requests: Streaming<S::Request>,
    ) -> ReceiverStream<Result<S::Response, Status>>
    where
        S::Request: prost::Message + Default,
    {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(drive(stream, requests, self.certificates.clone(), tx));
        ReceiverStream::new(rx)
    }
}

#[tonic::async_trait]
impl SecretDiscoveryService for SdsServer {
    type StreamSecretsStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaSecretsStream = ReceiverStream<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_secrets(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamSecretsStream>, Status> {
        Ok(Response::new(
            self.start(SotwStream::default(), request.into_inner()),
        ))
    }

    async fn delta_secrets(
        &self,
        request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaSecretsStream>, Status> {
        Ok(Response::new(
            self.start(DeltaStream::default(), request.into_inner()),
        ))
    }

    async fn fetch_secrets(
        &self,
        request: Request<DiscoveryRequest>,
    ) -> Result<Response<DiscoveryResponse>, Status> {
        let secrets = secret_resources(self.certificates.borrow().as_deref());
        if secrets.is_empty() {
            return Err(Status::unavailable(
                "no workload certificate yet; the agent is still asking the CA",
            ));
        }
        let mut stream = SotwStream::default();
        stream
            .on_request(request.into_inner(), &secrets)
            .map(Response::new)
            .ok_or_else(|| Status::not_found("the agent serves only `default` and `ROOTCA`"))
    }
}

impl SdsStream for SotwStream {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;

    fn on_request(
        &mut self,
        r: DiscoveryRequest,
        s: &[SecretResource],
    ) -> Option<DiscoveryResponse> {
        SotwStream::on_request(self, r, s)
    }

    fn on_update(&mut self, s: &[SecretResource]) -> Option<DiscoveryResponse> {
        SotwStream::on_update(self, s)
    }
}

impl SdsStream for DeltaStream {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;

    fn on_request(
        &mut self,
        r: DeltaDiscoveryRequest,
        s: &[SecretResource],
    ) -> Option<DeltaDiscoveryResponse> {
        DeltaStream::on_request(self, r, s)
    }

    fn on_update(&mut self, s: &[SecretResource]) -> Option<DeltaDiscoveryResponse> {
        DeltaStream::on_update(self, s)
    }
}

/// Runs one stream until Envoy closes it.
async fn drive<S: SdsStream>(
    mut stream: S,
    mut requests: Streaming<S::Request>,
    mut certificates: CertificateWatch,
    tx: mpsc::Sender<Result<S::Response, Status>>,
) where
    S::Request: prost::Message + Default,
{
    loop {
        let response = tokio::select! {
            request = requests.message() => match request {
                Ok(Some(request)) => {
                    let secrets = secret_resources(certificates.borrow_and_update().as_deref());
                    stream.on_request(request, &secrets)
                }
                Ok(None) => return,
                Err(status) => {
                    tracing::debug!("SDS stream ended: {status}");
                    return;
                }
            },
            changed = certificates.changed() => {
                if changed.is_err() {
                    return;
                }
                let secrets = secret_resources(certificates.borrow_and_update().as_deref());
                stream.on_update(&secrets)
            }
        };
        if let Some(response) = response
            && tx.send(Ok(response)).await.is_err()
        {
            return;
        }
    }
}
