//! A tonic SDS client over the agent's Unix socket, as Envoy's `sds-grpc` pipe
//! cluster connects.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret;
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_client::SecretDiscoveryServiceClient;
use envoy_types::pb::google::protobuf::Any;
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::net::UnixStream;
use tonic::codegen::Service;
use tonic::codegen::http::Uri;
use tonic::transport::{Channel, Endpoint};

#[derive(Clone)]
struct UnixConnector(PathBuf);

impl Service<Uri> for UnixConnector {
    type Response = TokioIo<UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move { Ok(TokioIo::new(UnixStream::connect(path).await?)) })
    }
}

pub(crate) async fn connect(socket: &Path) -> SecretDiscoveryServiceClient<Channel> {
    let channel = Endpoint::from_static("http://sds")
        .connect_with_connector(UnixConnector(socket.to_path_buf()))
        .await
        .expect("connects to the SDS socket");
    SecretDiscoveryServiceClient::new(channel)
}

pub(crate) fn secret(any: &Any) -> Secret {
    Secret::decode(any.value.as_slice()).expect("a Secret")
}
