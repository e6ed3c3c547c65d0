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
use super::snapshot::{EncodedResource, ProxySnapshot, Resources, TypeChange, type_version};
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
    /// What the proxy got of this type (all of it, also after a partial response).
    sent: Option<Resources>,
    /// Whether the last response selected every resource of the type: then, while
    /// the names stay the same, so does the next, without comparing them.
    covers_all: bool,
}

/// The resource names a proxy asked for.
#[derive(Debug, Clone)]
struct Subscription {
    wildcard: bool,
    names: SubscribedNames,
}

/// Envoy usually asks for exactly the EDS (RDS) resources there are, a thousand
/// names for a thousand services: then the names are those of resources the
/// proxies share, rather than a copy per proxy.
#[derive(Debug, Clone)]
enum SubscribedNames {
    /// Exactly the names of these resources.
    KeysOf(Resources),
    Listed(BTreeSet<String>),
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

    fn size(response: &DiscoveryResponse) -> usize {
        response.resources.iter().map(|r| r.value.len()).sum()
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
        // An ACK repeats every subscribed name (all the mesh's EDS clusters, say):
        // recognise an unchanged subscription in one pass, without building anew.
        if !initial
            && self.types[ty]
                .subscription
                .as_ref()
                .is_some_and(|s| s.is_requested_by(ty, &request.resource_names))
        {
            // Names kept as the keys of the resources they were first read against
            // would keep those resources alive: move them to the current ones when
            // those are exactly what the proxy was last sent, all of it.
            let current = self.snapshot.resources(ty);
            let state = &mut self.types[ty];
            if state.covers_all
                && state
                    .sent
                    .as_ref()
                    .is_some_and(|sent| sent.same_maps(current))
                && let Some(Subscription {
                    names: names @ SubscribedNames::KeysOf(_),
                    ..
                }) = &mut state.subscription
            {
                *names = SubscribedNames::KeysOf(current.clone());
            }
            return Vec::new();
        }
        let subscription =
            Subscription::new(ty, request.resource_names, self.snapshot.resources(ty));
        let state = &mut self.types[ty];
        let changed = state
            .subscription
            .as_ref()
            .is_none_or(|s| !s.same_as(&subscription));
        let empty = subscription.is_empty();
        state.subscription = Some(subscription);
        if changed {
            state.covers_all = false;
        }
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
        // What changed since the snapshot the proxy has, when the push knows.
        let change = snapshot.change_from(self.snapshot.config_version).cloned();
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
            let response = match change.as_ref().map(|c| &c[ty]) {
                Some(TypeChange::Unchanged) if !force => None,
                Some(TypeChange::Resources(names)) if !force => self
                    .changed_resources_response(ty, names)
                    .unwrap_or_else(|| self.response(ty, false)),
                _ => self.response(ty, force),
            };
            if let Some(response) = response {
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

    fn snapshot(&self) -> &Arc<ProxySnapshot> {
        &self.snapshot
    }
}

impl SotwConnection {
    /// The response carrying the current resources of `ty`, unless they are what was
    /// last sent and `force` is false.
    fn response(&mut self, ty: XdsType, force: bool) -> Option<DiscoveryResponse> {
        let subscription = self.types[ty].subscription.as_ref()?;
        let all = self.snapshot.resources(ty);
        let selected = if subscription.wildcard {
            all.clone()
        } else {
            subscription.names.select(all)
        };
        let hash = selected.content_hash();
        if !force && self.types[ty].sent_hash == Some(hash) {
            return None;
        }
        // xDS protocol, "Grouping Resources into Responses": in SotW "all resource
        // types except for Listener and Cluster are grouped into responses in the same
        // way as in the incremental protocol variants", i.e. a response need not
        // repeat the resources that did not change. So an EDS push carries only the
        // changed ClusterLoadAssignments, unless the proxy's state is in doubt (a
        // NACK, a forced resend after clusters changed) or some went away.
        let partial = match &self.types[ty].sent {
            Some(sent)
                if ty == XdsType::Endpoint && !force && self.status.types[ty].nack.is_none() =>
            {
                changed_since(&selected, sent)
                    .map(|changed| changed.into_iter().map(|r| r.to_any(ty)).collect())
            }
            _ => None,
        };
        let resources =
            partial.unwrap_or_else(|| selected.values().map(|r| r.to_any(ty)).collect());
        self.types[ty].covers_all = selected.len() == all.len();
        Some(self.respond(ty, selected, hash, resources))
    }

    /// The response to a push that changed only the contents of `names` (of EDS,
    /// whose responses may be partial), looking only at those: `None` when that
    /// shortcut does not apply (the proxy subscribed to some of the resources only,
    /// or its state is in doubt after a NACK); `Some(None)` when nothing it has changed.
    fn changed_resources_response(
        &mut self,
        ty: XdsType,
        names: &BTreeSet<String>,
    ) -> Option<Option<DiscoveryResponse>> {
        let state = &self.types[ty];
        if ty != XdsType::Endpoint || !state.covers_all || self.status.types[ty].nack.is_some() {
            return None;
        }
        let sent = state.sent.as_ref()?;
        let all = self.snapshot.resources(ty).clone();
        let hash = all.content_hash();
        if state.sent_hash == Some(hash) {
            return Some(None);
        }
        let resources = names
            .iter()
            .filter_map(|name| all.get(name))
            .filter(|r| {
                sent.get(&r.name)
                    .is_none_or(|s| !Arc::ptr_eq(s, r) && s.version != r.version)
            })
            .map(|r| r.to_any(ty))
            .collect();
        Some(Some(self.respond(ty, all, hash, resources)))
    }

    /// Records and returns a response carrying `resources`, the proxy then having
    /// `selected`.
    fn respond(
        &mut self,
        ty: XdsType,
        selected: Resources,
        hash: u64,
        resources: Vec<envoy_types::pb::google::protobuf::Any>,
    ) -> DiscoveryResponse {
        let version = type_version(self.snapshot.config_version, hash);
        let nonce = next_nonce();
        let response = DiscoveryResponse {
            version_info: version.clone(),
            resources,
            type_url: ty.type_url().to_string(),
            nonce: nonce.clone(),
            control_plane: control_plane(),
            ..Default::default()
        };
        self.types[ty].sent_hash = Some(hash);
        self.types[ty].sent = Some(selected.clone());
        self.status.types[ty].record_sent(version, nonce, Arc::new(selected));
        response
    }
}

impl Subscription {
    fn new(ty: XdsType, names: Vec<String>, current: &Resources) -> Subscription {
        let wildcard =
            (names.is_empty() && ty.wildcard_when_unnamed()) || names.iter().any(|n| n == "*");
        let names: Vec<String> = names.into_iter().filter(|n| n != "*").collect();
        // Names in order need no set built to be recognised.
        if names.len() == current.len() && current.keys().eq(names.iter()) {
            let names = SubscribedNames::KeysOf(current.clone());
            return Subscription { wildcard, names };
        }
        let names: BTreeSet<String> = names.into_iter().collect();
        let names = if names.len() == current.len() && current.keys().eq(names.iter()) {
            SubscribedNames::KeysOf(current.clone())
        } else {
            SubscribedNames::Listed(names)
        };
        Subscription { wildcard, names }
    }

    fn is_empty(&self) -> bool {
        !self.wildcard && self.names.is_empty()
    }

    /// Whether a request naming `names` asks for exactly this subscription (names in
    /// the same order; a reordered request takes the longer way).
    fn is_requested_by(&self, ty: XdsType, names: &[String]) -> bool {
        let wildcard =
            (names.is_empty() && ty.wildcard_when_unnamed()) || names.iter().any(|n| n == "*");
        wildcard == self.wildcard && self.names.names().eq(names.iter().filter(|n| *n != "*"))
    }

    fn same_as(&self, other: &Subscription) -> bool {
        self.wildcard == other.wildcard && self.names.names().eq(other.names.names())
    }
}

/// The resources of `selected` that `sent` lacks or has in another version; `None`
/// when `sent` has some that `selected` does not (a removal). One pass over both,
/// in name order.
fn changed_since<'r>(
    selected: &'r Resources,
    sent: &Resources,
) -> Option<Vec<&'r Arc<EncodedResource>>> {
    let mut sent = sent.values().peekable();
    let mut changed = Vec::new();
    for r in selected.values() {
        match sent.peek() {
            Some(s) if s.name < r.name => return None,
            Some(s) if s.name == r.name => {
                if !Arc::ptr_eq(s, r) && s.version != r.version {
                    changed.push(r);
                }
                sent.next();
            }
            _ => changed.push(r),
        }
    }
    sent.next().is_none().then_some(changed)
}

impl SubscribedNames {
    fn names(&self) -> Box<dyn Iterator<Item = &String> + '_> {
        match self {
            SubscribedNames::KeysOf(r) => Box::new(r.keys()),
            SubscribedNames::Listed(names) => Box::new(names.iter()),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            SubscribedNames::KeysOf(r) => r.is_empty(),
            SubscribedNames::Listed(names) => names.is_empty(),
        }
    }

    /// The resources of `all` with these names.
    fn select(&self, all: &Resources) -> Resources {
        match self {
            SubscribedNames::KeysOf(r) if r.len() == all.len() && r.keys().eq(all.keys()) => {
                all.clone()
            }
            SubscribedNames::KeysOf(r) => all.select(&r.keys().cloned().collect()),
            SubscribedNames::Listed(names) => all.select(names),
        }
    }
}

#[cfg(test)]
mod tests;
