//! The ADS stream: subscribe CDS and LDS (wildcard), then the EDS and RDS resources
//! they name, as Envoy does; ACK or NACK every response; reconnect with jittered
//! backoff, keeping the last accepted config in force meanwhile. Delta ADS first; a
//! control plane that answers it with UNIMPLEMENTED gets State of the World
//! ([`super::sotw`]) from then on. With an identity the stream goes over TLS with
//! the proxy's credentials (`crate::identity::ControlPlaneCredentials`: the root,
//! the bearer token, the workload certificate); without, in plaintext.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse,
};
use envoy_types::pb::google::rpc::Status;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

use super::{XdsState, XdsType};
use crate::config::Snapshot;
use crate::identity::ControlPlaneCredentials;
use crate::stats::Stats;

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// gRPC INVALID_ARGUMENT, the code Envoy puts in a NACK.
const INVALID_ARGUMENT: i32 = 3;

/// The xDS client task: owns the accepted state and publishes snapshots.
#[derive(Debug)]
pub struct XdsClient {
    pub(super) address: String,
    pub(super) node: Node,
    pub(super) state: XdsState,
    pub(super) snapshots: watch::Sender<Arc<Snapshot>>,
    pub(super) stats: Arc<Stats>,
    /// TLS and authentication to the control plane; `None`: plaintext.
    credentials: Option<ControlPlaneCredentials>,
    /// Set once the control plane refused Delta ADS.
    sotw: bool,
}

/// The control plane does not serve Delta ADS.
#[derive(Debug, thiserror::Error)]
#[error("the control plane does not serve Delta ADS: {0}")]
struct DeltaUnimplemented(String);

impl XdsClient {
    pub fn new(
        address: String,
        node: Node,
        snapshots: watch::Sender<Arc<Snapshot>>,
        stats: Arc<Stats>,
    ) -> XdsClient {
        let mut state = XdsState::default();
        state.stats = stats.clone();
        XdsClient {
            address,
            node,
            state,
            snapshots,
            stats,
            credentials: None,
            sotw: false,
        }
    }

    /// Clusters originate TLS with `tls` (the workload's certificate).
    pub fn with_tls(mut self, tls: Arc<crate::tls::TlsContexts>) -> XdsClient {
        self.state.tls = tls;
        self
    }

    /// Connects over TLS with `credentials` (the proxy has an identity).
    pub fn with_credentials(mut self, credentials: ControlPlaneCredentials) -> XdsClient {
        self.credentials = Some(credentials);
        self
    }

    /// An ADS client: over TLS with the credentials (connecting on first use), or
    /// plaintext.
    pub(super) async fn connect(
        &self,
    ) -> anyhow::Result<AggregatedDiscoveryServiceClient<Channel>> {
        let channel = match &self.credentials {
            Some(credentials) => credentials.channel(&self.address)?,
            None => {
                Endpoint::from_shared(format!("http://{}", self.address))?
                    .connect()
                    .await?
            }
        };
        Ok(AggregatedDiscoveryServiceClient::new(channel))
    }

    /// The stream's request, with the bearer token when there are credentials.
    pub(super) fn request<T>(&self, stream: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(stream);
        if let Some(credentials) = &self.credentials {
            credentials.authorize(&mut request)?;
        }
        Ok(request)
    }

    /// Runs forever: one stream at a time, reconnecting after a jittered backoff.
    pub async fn run(mut self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let started = Instant::now();
            let result = if self.sotw {
                self.stream_sotw().await
            } else {
                self.stream().await
            };
            match result {
                Ok(()) => {
                    tracing::warn!(address = %self.address, "xDS stream closed by the control plane")
                }
                Err(e) if e.is::<DeltaUnimplemented>() => {
                    tracing::info!(address = %self.address, "{e}; using State-of-the-World ADS");
                    self.sotw = true;
                    continue;
                }
                Err(e) => tracing::warn!(address = %self.address, "xDS stream failed: {e:#}"),
            }
            // A stream that lived a while was healthy: start the backoff over.
            if started.elapsed() > BACKOFF_MAX {
                backoff = BACKOFF_MIN;
            }
            let sleep = jittered(backoff);
            tracing::info!("reconnecting to the control plane in {sleep:?}");
            tokio::time::sleep(sleep).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn stream(&mut self) -> anyhow::Result<()> {
        let mut client = self.connect().await?;
        let (tx, rx) = mpsc::channel(32);
        // Envoy's order: clusters first, then listeners; the node goes on the first
        // request only. Resources already held are announced by version.
        let mut subscribed: BTreeMap<XdsType, BTreeSet<String>> = XdsType::SUBSCRIBED
            .into_iter()
            .map(|ty| (ty, self.state.wanted(ty)))
            .collect();
        for (i, ty) in XdsType::SUBSCRIBED.into_iter().enumerate() {
            let names = subscribed.get(&ty).cloned().unwrap_or_default();
            if !ty.wildcard() && names.is_empty() {
                continue;
            }
            tx.send(DeltaDiscoveryRequest {
                node: (i == 0).then(|| self.node.clone()),
                type_url: ty.type_url().to_string(),
                resource_names_subscribe: names.into_iter().collect(),
                initial_resource_versions: self.state.versions(ty),
                ..Default::default()
            })
            .await?;
        }
        let unimplemented = |status: tonic::Status| -> anyhow::Error {
            if status.code() == tonic::Code::Unimplemented {
                DeltaUnimplemented(status.message().to_string()).into()
            } else {
                status.into()
            }
        };
        let mut responses = client
            .delta_aggregated_resources(self.request(ReceiverStream::new(rx))?)
            .await
            .map_err(unimplemented)?
            .into_inner();
        loop {
            let dns_changed = self.state.dns_changed.clone();
            let resp = tokio::select! {
                resp = responses.message() => match resp.map_err(unimplemented)? {
                    Some(resp) => resp,
                    None => break,
                },
                // A DNS cluster's addresses changed: the same config, new endpoints.
                () = dns_changed.notified() => {
                    self.publish();
                    continue;
                }
            };
            let result = self.state.apply(&resp);
            // Subscribe what new clusters and listeners need before acknowledging them.
            if let Some(dependent) =
                XdsType::from_type_url(&resp.type_url).and_then(XdsType::dependent)
            {
                let current = subscribed.entry(dependent).or_default();
                resubscribe(&tx, dependent, current, self.state.wanted(dependent)).await?;
            }
            tx.send(ack_or_nack(&resp, &result)).await?;
            self.answered(&resp.type_url, &result);
        }
        Ok(())
    }

    /// Counts a response ACKed or NACKed (logging why), and publishes what is
    /// accepted now.
    pub(super) fn answered(&mut self, type_url: &str, result: &Result<(), String>) {
        match result {
            Ok(()) => self.stats.xds_ack(),
            Err(e) => {
                self.stats.xds_nack();
                tracing::warn!(type_url, "NACK: {e}");
            }
        }
        self.publish();
    }

    /// Publishes a snapshot of what is accepted now.
    pub(super) fn publish(&mut self) {
        let snapshot = self.state.snapshot(&self.snapshots.borrow());
        self.snapshots.send_replace(Arc::new(snapshot));
    }
}

async fn resubscribe(
    tx: &mpsc::Sender<DeltaDiscoveryRequest>,
    ty: XdsType,
    current: &mut BTreeSet<String>,
    wanted: BTreeSet<String>,
) -> anyhow::Result<()> {
    let subscribe: Vec<String> = wanted.difference(current).cloned().collect();
    let unsubscribe: Vec<String> = current.difference(&wanted).cloned().collect();
    if subscribe.is_empty() && unsubscribe.is_empty() {
        return Ok(());
    }
    *current = wanted;
    tx.send(DeltaDiscoveryRequest {
        type_url: ty.type_url().to_string(),
        resource_names_subscribe: subscribe,
        resource_names_unsubscribe: unsubscribe,
        ..Default::default()
    })
    .await?;
    Ok(())
}

fn ack_or_nack(
    resp: &DeltaDiscoveryResponse,
    result: &Result<(), String>,
) -> DeltaDiscoveryRequest {
    DeltaDiscoveryRequest {
        type_url: resp.type_url.clone(),
        response_nonce: resp.nonce.clone(),
        error_detail: result.as_ref().err().map(|message| Status {
            code: INVALID_ARGUMENT,
            message: message.clone(),
            details: Vec::new(),
        }),
        ..Default::default()
    }
}

/// `base` ± 50%, from the clock's nanoseconds (good enough to spread reconnects).
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let factor = 0.5 + f64::from(nanos % 1000) / 1000.0;
    base.mul_f64(factor)
}
