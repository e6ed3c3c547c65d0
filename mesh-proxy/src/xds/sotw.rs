//! State-of-the-World ADS, for a control plane that does not serve Delta: one
//! request per type with the full list of names wanted (empty for CDS and LDS:
//! wildcard), answered by ACK (the version and nonce of the response) or NACK (the
//! last accepted version, the nonce and `error_detail`).

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::google::rpc::Status;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::client::XdsClient;
use super::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION};

/// gRPC INVALID_ARGUMENT, the code Envoy puts in a NACK.
const INVALID_ARGUMENT: i32 = 3;

/// Per type: what was asked for, the last accepted version and the last nonce.
#[derive(Debug, Default)]
struct Subscription {
    names: BTreeSet<String>,
    version: String,
    nonce: String,
}

impl XdsClient {
    /// One SotW stream, until it ends.
    pub(super) async fn stream_sotw(&mut self) -> anyhow::Result<()> {
        let mut client =
            AggregatedDiscoveryServiceClient::connect(format!("http://{}", self.address)).await?;
        let (tx, rx) = mpsc::channel(32);
        let mut subs: BTreeMap<&'static str, Subscription> = BTreeMap::new();
        subs.insert(CLUSTER, Subscription::default());
        subs.insert(LISTENER, Subscription::default());
        subs.insert(
            CLUSTER_LOAD_ASSIGNMENT,
            Subscription {
                names: self.state.wanted_endpoints(),
                ..Default::default()
            },
        );
        subs.insert(
            ROUTE_CONFIGURATION,
            Subscription {
                names: self.state.wanted_route_configs(),
                ..Default::default()
            },
        );
        // Envoy's order; the node on the first request only; EDS and RDS once
        // something needs them.
        for (i, ty) in [
            CLUSTER,
            LISTENER,
            CLUSTER_LOAD_ASSIGNMENT,
            ROUTE_CONFIGURATION,
        ]
        .into_iter()
        .enumerate()
        {
            let sub = &subs[ty];
            if i >= 2 && sub.names.is_empty() {
                continue;
            }
            let mut request = request(ty, sub, None);
            request.node = (i == 0).then(|| self.node.clone());
            tx.send(request).await?;
        }
        let mut responses = client
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await?
            .into_inner();
        loop {
            let dns_changed = self.state.dns_changed.clone();
            let resp = tokio::select! {
                resp = responses.message() => match resp? {
                    Some(resp) => resp,
                    None => break,
                },
                () = dns_changed.notified() => {
                    self.publish();
                    continue;
                }
            };
            let result = self.state.apply_sotw(&resp);
            let ty: &'static str = match resp.type_url.as_str() {
                CLUSTER => CLUSTER,
                LISTENER => LISTENER,
                ROUTE_CONFIGURATION => ROUTE_CONFIGURATION,
                CLUSTER_LOAD_ASSIGNMENT => CLUSTER_LOAD_ASSIGNMENT,
                _ => continue,
            };
            if let Some(sub) = subs.get_mut(ty) {
                sub.nonce = resp.nonce.clone();
                if result.is_ok() {
                    sub.version = resp.version_info.clone();
                }
            }
            // What new clusters and listeners need, asked for before the ACK.
            let needs = match ty {
                CLUSTER => Some((CLUSTER_LOAD_ASSIGNMENT, self.state.wanted_endpoints())),
                LISTENER => Some((ROUTE_CONFIGURATION, self.state.wanted_route_configs())),
                _ => None,
            };
            if let Some((needed_ty, wanted)) = needs
                && let Some(sub) = subs.get_mut(needed_ty)
                && sub.names != wanted
            {
                sub.names = wanted;
                tx.send(request(needed_ty, sub, None)).await?;
            }
            tx.send(request(ty, &subs[ty], result.as_ref().err()))
                .await?;
            self.answered(&resp.type_url, &result);
        }
        Ok(())
    }
}

/// A request for `ty`: the names wanted, the last accepted version, the nonce of
/// the response it answers, and the error when it is a NACK.
fn request(ty: &str, sub: &Subscription, error: Option<&String>) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: ty.to_string(),
        resource_names: sub.names.iter().cloned().collect(),
        version_info: sub.version.clone(),
        response_nonce: sub.nonce.clone(),
        error_detail: error.map(|message| Status {
            code: INVALID_ARGUMENT,
            message: message.clone(),
            details: Vec::new(),
        }),
        ..Default::default()
    }
}
