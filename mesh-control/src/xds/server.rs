//! The ADS server: Envoy's Aggregated Discovery Service over gRPC, both State of the
//! World and Delta, for clusters, endpoints, listeners and routes.
//!
//! Each stream runs on a task of its own ([`connection`]) around a protocol state
//! machine without I/O ([`sotw`], [`delta`]). Config changes are debounced into
//! pushes ([`push`]); the outbound resources are translated once per proxy scope
//! and shared, and every connection sends only the types (SotW; for EDS only the
//! changed resources) or resources (Delta) that changed. The [`registry`] shows
//! each proxy's sync state to the debug endpoint.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mesh_api::model::MeshModel;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_stream::Stream;
use tonic::transport::server::Connected;

use super::node::ProxyNode;
use super::resources::ProxyResources;
use crate::ca::CertificateService;
use crate::ca::auth::Authenticator;
use crate::config::ConfigSnapshot;

mod connection;
mod delta;
pub(crate) mod grpc;
mod push;
pub mod registry;
pub mod snapshot;
mod sotw;
pub mod xds_type;

pub use grpc::AdsService;
pub use registry::{AdsProtocolKind, ProxyConnection, Registry, SyncState, SyncStatus, TypeStatus};
pub use snapshot::{EncodedResource, ProxySnapshot, ResourceInterner, ResourceMap, Resources};
pub use xds_type::XdsType;

/// Turns the model into one proxy's resources: a stand-in for the real translator
/// in tests.
pub type Translator = Arc<dyn Fn(&MeshModel, &ProxyNode) -> ProxyResources + Send + Sync>;

/// How the server translates.
pub(crate) enum Translation {
    /// The real translator, outbound once per scope and inbound per proxy.
    Scoped,
    /// A stand-in, once per proxy.
    PerProxy(Translator),
}

/// The ADS service. Cheap to clone: clones share connections and state.
#[derive(Clone, Debug)]
pub struct AdsServer {
    shared: Arc<Shared>,
}

/// What every connection shares.
pub(crate) struct Shared {
    /// Debounced config: every change here is a push.
    pushes: watch::Receiver<Arc<ConfigSnapshot>>,
    registry: Arc<Registry>,
    translation: Translation,
    /// Each scope's outbound resources for the latest push.
    scopes: push::ScopeCache,
    /// Bounds how many proxies are translated at once.
    translations: Semaphore,
    /// Bounds how many proxies have a large push on the wire, unanswered: the
    /// responses' copies and gRPC buffers are the control plane's largest memory.
    push_slots: Arc<Semaphore>,
    /// Shares equal encoded resources between proxies.
    interner: ResourceInterner,
    /// Set to true to end every stream.
    stop: watch::Sender<bool>,
}

impl AdsServer {
    /// Starts debouncing `config` into pushes, with the real translator. Must be
    /// called inside a Tokio runtime.
    pub fn start(
        config: watch::Receiver<Arc<ConfigSnapshot>>,
        push_debounce: Duration,
    ) -> AdsServer {
        AdsServer::with_translation(config, push_debounce, Translation::Scoped)
    }

    /// As [`AdsServer::start`], with another translator, called once per proxy.
    pub fn with_translator(
        config: watch::Receiver<Arc<ConfigSnapshot>>,
        push_debounce: Duration,
        translator: Translator,
    ) -> AdsServer {
        AdsServer::with_translation(config, push_debounce, Translation::PerProxy(translator))
    }

    fn with_translation(
        config: watch::Receiver<Arc<ConfigSnapshot>>,
        push_debounce: Duration,
        translation: Translation,
    ) -> AdsServer {
        let (pushes_tx, pushes) = watch::channel(config.borrow().clone());
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(push::debounce(config, pushes_tx, push_debounce, stop_rx));
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        AdsServer {
            shared: Arc::new(Shared {
                pushes,
                registry: Arc::default(),
                translation,
                scopes: push::ScopeCache::default(),
                translations: Semaphore::new(parallelism),
                push_slots: Arc::new(Semaphore::new(connection::PUSH_SLOTS)),
                interner: ResourceInterner::default(),
                stop,
            }),
        }
    }

    /// The connected proxies and their sync state.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// The gRPC service, to add to a tonic server of one's own: unauthenticated, as
    /// on the plaintext port (15010).
    pub fn service(&self) -> AdsService {
        AdsService::new(self.shared.clone(), None)
    }

    /// The gRPC service for the TLS port (15012): every stream proves an identity
    /// with `auth` and is served only as a node of that identity.
    pub fn authenticated_service(&self, auth: Authenticator) -> AdsService {
        AdsService::new(self.shared.clone(), Some(auth))
    }

    /// Ends every stream and stops pushing; proxies reconnect elsewhere.
    pub fn stop(&self) {
        self.shared.stop.send_replace(true);
    }

    /// Serves ADS on `listener` until `shutdown` completes, then closes every stream.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let ads = self.service();
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        self.serve_incoming(ads, None, incoming, shutdown).await
    }

    /// Serves `ads` (one of this server's services, with its port's auth policy)
    /// and the certificate service, if given, on the connections of `incoming`
    /// until `shutdown` completes, then closes every ADS stream.
    pub async fn serve_incoming<IO, IE>(
        self,
        ads: AdsService,
        certificates: Option<CertificateService>,
        incoming: impl Stream<Item = Result<IO, IE>>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error>
    where
        IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
        IE: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let shutdown = async move {
            shutdown.await;
            // Streams never end by themselves; without this the graceful shutdown
            // of the gRPC server would wait for proxies forever.
            self.stop();
        };
        tonic::transport::Server::builder()
            // Detects proxies that vanished without closing their connection.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)))
            .add_service(ads)
            .add_optional_service(certificates)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config_version", &self.pushes.borrow().version)
            .field("connections", &self.registry.connections().len())
            .field("interned_resources", &self.interner.len())
            .finish_non_exhaustive()
    }
}
