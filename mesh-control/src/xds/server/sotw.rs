//! State of the World ADS: every response carries all the resources of its type
//! that the proxy subscribed to. A request answering the last response is an ACK
//! (or a NACK with `error_detail`); one answering an older response is stale and
//! ignored, as Envoy's protocol says: the proxy will answer the newer one too.

use std::collections::BTreeSet;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};

use super::connection::{AdsProtocol, control_plane, next_nonce};
use super::registry::{AdsProtocolKind, Reply, SyncStatus};
use super::snapshot::{ProxySnapshot, Resources, content_hash, type_version};
use super::xds_type::{PerType, XdsType};
use crate::xds::node::ProxyNode;

/// A SotW stream's state.
#[derive(Debug)]
pub(crate) struct SotwConnection {
    proxy: Arc<ProxyNode>,
    snapshot: Arc<ProxySnapshot>,
    types: PerType<SotwType>,
    status: SyncStatus,
}

#[derive(Debug, Default)]
struct SotwType {
    /// `None` until the proxy asks for the type.
    subscription: Option<Subscription>,
    /// Content hash of the last response, to skip pushes that change nothing.
    sent_hash: Option<u64>,
}

/// The resource names a proxy asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Subscription {
    wildcard: bool,
    names: BTreeSet<String>,
}

impl AdsProtocol for SotwConnection {
    type Request = DiscoveryRequest;
    type Response = DiscoveryResponse;
    const KIND: AdsProtocolKind = AdsProtocolKind::Sotw;

    fn node(request: &DiscoveryRequest) -> Option<&Node> {
        request.node.as_ref()
    }

    fn type_url(response: &DiscoveryResponse) -> &str {
        &response.type_url
    }

    fn new(proxy: Arc<ProxyNode>, snapshot: Arc<ProxySnapshot>) -> SotwConnection {
        let status = SyncStatus {
            config_version: snapshot.config_version,
            ..Default::default()
        };
        SotwConnection {
            proxy,
            snapshot,
            types: PerType::default(),
            status,
        }
    }

    fn on_request(&mut self, request: DiscoveryRequest) -> Vec<DiscoveryResponse> {
        let Some(ty) = XdsType::from_type_url(&request.type_url) else {
            tracing::debug!(proxy = %self.proxy, type_url = %request.type_url, "ignoring a request for a type this control plane does not serve");
            return Vec::new();
        };
        // A nonce on the first request of a type names a response of another stream
        // (a proxy that reconnected): it is a new subscription all the same.
        let initial = request.response_nonce.is_empty() || self.types[ty].subscription.is_none();
        if !initial {
            let reply = self.status.types[ty]
                .on_reply(&request.response_nonce, request.error_detail.as_ref());
            match reply {
                Reply::Ack => {}
                Reply::Stale => {
                    tracing::debug!(proxy = %self.proxy, r#type = ty.short_name(), nonce = %request.response_nonce, "ignoring a request with a stale nonce");
                    return Vec::new();
                }
                Reply::Nack(error) => {
                    tracing::warn!(
                        proxy = %self.proxy,
                        r#type = ty.short_name(),
                        resources = ?request.resource_names,
                        rejected_version = ?self.status.types[ty].sent_version,
                        running_version = %request.version_info,
                        %error,
                        "proxy rejected config (NACK)"
                    );
                    return Vec::new();
                }
            }
        }
        let subscription = Subscription::new(ty, request.resource_names);
        let state = &mut self.types[ty];
        let changed = state.subscription.as_ref() != Some(&subscription);
        let empty = subscription.is_empty();
        state.subscription = Some(subscription);
        // A plain ACK needs no answer; a first request or new names (Envoy asking
        // for the endpoints of new clusters, the routes of new listeners) do.
        if initial || (changed && !empty) {
            self.response(ty, true).into_iter().collect()
        } else {
            Vec::new()
        }
    }

    fn on_snapshot(&mut self, snapshot: Arc<ProxySnapshot>) -> Vec<DiscoveryResponse> {
        self.status.config_version = snapshot.config_version;
        self.snapshot = snapshot;
        let mut responses = Vec::new();
        let (mut clusters_sent, mut listeners_sent) = (false, false);
        for ty in XdsType::PUSH_ORDER {
            if self.types[ty]
                .subscription
                .as_ref()
                .is_none_or(Subscription::is_empty)
            {
                continue;
            }
            // Updated clusters warm only when endpoints arrive, and Envoy does not
            // ask again for endpoints it already has: resend them after clusters,
            // and routes after listeners, as Istio does on a full push.
            let force = match ty {
                XdsType::Endpoint => clusters_sent,
                XdsType::Route => listeners_sent,
                _ => false,
            };
            if let Some(response) = self.response(ty, force) {
                clusters_sent |= ty == XdsType::Cluster;
                listeners_sent |= ty == XdsType::Listener;
                responses.push(response);
            }
        }
        responses
    }

    fn status(&self) -> &SyncStatus {
        &self.status
    }
}

impl SotwConnection {
    /// The response carrying the current resources of `ty`, unless they are what was
    /// last sent and `force` is false.
    fn response(&mut self, ty: XdsType, force: bool) -> Option<DiscoveryResponse> {
        let subscription = self.types[ty].subscription.as_ref()?;
        let all = self.snapshot.resources(ty);
        let selected: Arc<Resources> = if subscription.wildcard {
            all.clone()
        } else {
            Arc::new(
                subscription
                    .names
                    .iter()
                    .filter_map(|name| Some((name.clone(), all.get(name)?.clone())))
                    .collect(),
            )
        };
        let hash = content_hash(selected.values().map(|r| &**r));
        if !force && self.types[ty].sent_hash == Some(hash) {
            return None;
        }
        let version = type_version(self.snapshot.config_version, hash);
        let nonce = next_nonce();
        let response = DiscoveryResponse {
            version_info: version.clone(),
            resources: selected.values().map(|r| r.to_any(ty)).collect(),
            type_url: ty.type_url().to_string(),
            nonce: nonce.clone(),
            control_plane: control_plane(),
            ..Default::default()
        };
        self.types[ty].sent_hash = Some(hash);
        self.status.types[ty].record_sent(version, nonce, selected);
        Some(response)
    }
}

impl Subscription {
    fn new(ty: XdsType, names: Vec<String>) -> Subscription {
        let wildcard =
            (names.is_empty() && ty.wildcard_when_unnamed()) || names.iter().any(|n| n == "*");
        Subscription {
            wildcard,
            names: names.into_iter().filter(|n| n != "*").collect(),
        }
    }

    fn is_empty(&self) -> bool {
        !self.wildcard && self.names.is_empty()
    }
}

#[cfg(test)]
mod tests;
