//! State-of-the-World ADS, for a control plane that does not serve Delta: one
//! request per type with the full list of names wanted (empty for CDS and LDS:
//! wildcard), answered by ACK (the version and nonce of the response) or NACK (the
//! last accepted version, the nonce and `error_detail`).

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::google::rpc::Status;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::XdsType;
use super::client::XdsClient;

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
        let mut client = self.connect().await?;
        let (tx, rx) = mpsc::channel(32);
        let mut subs: BTreeMap<XdsType, Subscription> = XdsType::SUBSCRIBED
            .into_iter()
            .map(|ty| {
                let names = self.state.wanted(ty);
                (
                    ty,
                    Subscription {
                        names,
                        ..Default::default()
                    },
                )
            })
            .collect();
        // Envoy's order; the node on the first request only; EDS and RDS once
        // something needs them.
        for (i, ty) in XdsType::SUBSCRIBED.into_iter().enumerate() {
            let Some(sub) = subs.get(&ty) else { continue };
            if !ty.wildcard() && sub.names.is_empty() {
                continue;
            }
            let mut request = request(ty.type_url(), sub, None);
            request.node = (i == 0).then(|| self.node.clone());
            tx.send(request).await?;
        }
        let mut responses = client
            .stream_aggregated_resources(self.request(ReceiverStream::new(rx))?)
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
            let Some(ty) = XdsType::from_type_url(&resp.type_url) else {
                // Not a type this proxy knows: NACKed, with nothing accepted to name.
                let unknown = Subscription {
                    nonce: resp.nonce.clone(),
                    ..Default::default()
                };
                tx.send(request(&resp.type_url, &unknown, result.as_ref().err()))
                    .await?;
                self.answered(&resp.type_url, &result);
                continue;
            };
            let sub = subs.entry(ty).or_default();
            sub.nonce = resp.nonce.clone();
            if result.is_ok() {
                sub.version = resp.version_info.clone();
            }
            // What new clusters and listeners need, asked for before the ACK.
            if let Some(dependent) = ty.dependent() {
                let wanted = self.state.wanted(dependent);
                let sub = subs.entry(dependent).or_default();
                if sub.names != wanted {
                    sub.names = wanted;
                    tx.send(request(dependent.type_url(), sub, None)).await?;
                }
            }
            let sub = subs.entry(ty).or_default();
            tx.send(request(ty.type_url(), sub, result.as_ref().err()))
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
