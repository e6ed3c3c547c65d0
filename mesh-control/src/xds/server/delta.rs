//! Delta (incremental) ADS: responses carry only the resources that changed since
//! the proxy last got them, and the names of those that went away. Versions are per
//! resource (a hash of its bytes), so a proxy that reconnects with
//! `initial_resource_versions` gets only what changed meanwhile.

use std::collections::BTreeSet;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, Resource,
};

use super::connection::{AdsProtocol, control_plane, next_nonce};
use super::registry::{AdsProtocolKind, Reply, SyncStatus};
use super::snapshot::{EncodedResource, ProxySnapshot, Resources, TypeChange, type_version};
use super::xds_type::{PerType, XdsType};
use crate::xds::node::ProxyNode;

mod known;
mod subscribed;

use known::Known;
use subscribed::SubscribedNames;

/// A Delta stream's state.
#[derive(Debug)]
pub(crate) struct DeltaConnection {
    proxy: Arc<ProxyNode>,
    snapshot: Arc<ProxySnapshot>,
    types: PerType<DeltaType>,
    status: SyncStatus,
}

#[derive(Debug, Default)]
struct DeltaType {
    /// Whether the proxy asked for the type at all.
    subscribed: bool,
    wildcard: bool,
    names: SubscribedNames,
    /// What the proxy holds as far as the server knows: name → version.
    known: Known,
    /// Whether the proxy wanted every resource of the type at the last look: then,
    /// while the names stay the same, it still does, without comparing them.
    covers_all: bool,
}

impl AdsProtocol for DeltaConnection {
    type Request = DeltaDiscoveryRequest;
    type Response = DeltaDiscoveryResponse;
    const KIND: AdsProtocolKind = AdsProtocolKind::Delta;

    fn node(request: &DeltaDiscoveryRequest) -> Option<&Node> {
        request.node.as_ref()
    }

    fn type_url(response: &DeltaDiscoveryResponse) -> &str {
        &response.type_url
    }

    fn size(response: &DeltaDiscoveryResponse) -> usize {
        response
            .resources
            .iter()
            .filter_map(|r| r.resource.as_ref())
            .map(|r| r.value.len())
            .sum()
    }

    fn new(proxy: Arc<ProxyNode>, snapshot: Arc<ProxySnapshot>) -> DeltaConnection {
        let status = SyncStatus {
            config_version: snapshot.config_version,
            ..Default::default()
        };
        DeltaConnection {
            proxy,
            snapshot,
            types: PerType::default(),
            status,
        }
    }

    fn on_request(&mut self, request: DeltaDiscoveryRequest) -> Vec<DeltaDiscoveryResponse> {
        let Some(ty) = XdsType::from_type_url(&request.type_url) else {
            tracing::debug!(proxy = %self.proxy, type_url = %request.type_url, "ignoring a request for a type this control plane does not serve");
            return Vec::new();
        };
        if !request.response_nonce.is_empty() {
            let reply = self.status.types[ty]
                .on_reply(&request.response_nonce, request.error_detail.as_ref());
            match reply {
                Reply::Ack => {}
                // Unlike SotW, subscription changes below still count: they are
                // deltas and would be lost otherwise.
                Reply::Stale => {
                    tracing::debug!(proxy = %self.proxy, r#type = ty.short_name(), nonce = %request.response_nonce, "stale nonce")
                }
                Reply::Nack(error) => tracing::warn!(
                    proxy = %self.proxy,
                    r#type = ty.short_name(),
                    resources = ?self.status.types[ty].resources.keys().collect::<Vec<_>>(),
                    rejected_version = ?self.status.types[ty].sent_version,
                    %error,
                    "proxy rejected config (NACK)"
                ),
            }
        }
        let state = &mut self.types[ty];
        let initial = !state.subscribed;
        if initial {
            state.subscribed = true;
            state.wildcard =
                request.resource_names_subscribe.is_empty() && ty.wildcard_when_unnamed();
            state.known = Known::from_versions(request.initial_resource_versions);
        }
        let mut requested = Vec::new();
        for name in request.resource_names_subscribe {
            if name == "*" {
                state.wildcard = true;
            } else if state.names.insert(&name) {
                requested.push(name);
            }
        }
        for name in &request.resource_names_unsubscribe {
            if name == "*" {
                state.wildcard = false;
            } else {
                state.names.remove(name);
            }
        }
        // A plain ACK or NACK changes nothing the proxy should be told: pushes are
        // answered by `on_snapshot`. Returning here keeps an ACK's cost independent
        // of how many resources there are.
        if !initial && requested.is_empty() && request.resource_names_unsubscribe.is_empty() {
            return Vec::new();
        }
        // The proxy forgets what it unsubscribed from; so does the server.
        let (wildcard, names) = (state.wildcard, &state.names);
        state.known.retain(|name| wildcard || names.contains(name));
        let always = initial && state.wildcard;
        self.response(ty, &BTreeSet::new(), &requested, always)
            .into_iter()
            .collect()
    }

    fn on_snapshot(&mut self, snapshot: Arc<ProxySnapshot>) -> Vec<DeltaDiscoveryResponse> {
        self.status.config_version = snapshot.config_version;
        // What changed since the snapshot the proxy has, when the push knows.
        let change = snapshot.change_from(self.snapshot.config_version).cloned();
        self.snapshot = snapshot;
        let mut responses = Vec::new();
        let mut changed_clusters = BTreeSet::new();
        for ty in XdsType::PUSH_ORDER {
            if !self.types[ty].subscribed {
                continue;
            }
            // A changed cluster warms with fresh endpoints: resend its
            // ClusterLoadAssignment even when that did not change.
            let force = match ty {
                XdsType::Endpoint => &changed_clusters,
                _ => &BTreeSet::new(),
            };
            let response = match change.as_ref().map(|c| &c[ty]) {
                Some(TypeChange::Unchanged) if force.is_empty() => None,
                Some(TypeChange::Resources(names))
                    if force.is_empty() && self.types[ty].covers_all =>
                {
                    self.changed_resources_response(ty, names)
                }
                _ => self.response(ty, force, &[], false),
            };
            let Some(response) = response else {
                continue;
            };
            if ty == XdsType::Cluster {
                changed_clusters = response.resources.iter().map(|r| r.name.clone()).collect();
            }
            responses.push(response);
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

impl DeltaConnection {
    /// The response to a push that changed only the contents of `names`, for a
    /// proxy that wants every resource of the type: looks only at those names.
    fn changed_resources_response(
        &mut self,
        ty: XdsType,
        names: &BTreeSet<String>,
    ) -> Option<DeltaDiscoveryResponse> {
        let all = self.snapshot.resources(ty).clone();
        let state = &self.types[ty];
        let resources: Vec<Resource> = names
            .iter()
            .filter_map(|name| all.get(name))
            .filter(|r| state.known.version(&r.name) != Some(r.version.as_str()))
            .map(|r| wire_resource(r, ty))
            .collect();
        if resources.is_empty() {
            return None;
        }
        Some(self.respond(ty, all, resources, Vec::new()))
    }

    /// The changes of `ty` the proxy does not have yet, plus `force`d names, and
    /// `requested` names that do not exist (so that the proxy stops waiting for
    /// them). `None` when there is nothing to say, unless `always`.
    fn response(
        &mut self,
        ty: XdsType,
        force: &BTreeSet<String>,
        requested: &[String],
        always: bool,
    ) -> Option<DeltaDiscoveryResponse> {
        let state = &mut self.types[ty];
        let all = self.snapshot.resources(ty);
        let wanted = if state.wildcard {
            all.clone()
        } else {
            all.select_where(|name| state.names.contains(name))
        };
        state.covers_all = wanted.len() == all.len();
        // Every resource wanted and no other name: the names are exactly `all`'s.
        if state.covers_all && state.names.len() == all.len() {
            state.names.rebase(all.clone());
        }
        let resources: Vec<Resource> = wanted
            .values()
            .filter(|r| {
                state.known.version(&r.name) != Some(r.version.as_str()) || force.contains(&r.name)
            })
            .map(|r| wire_resource(r, ty))
            .collect();
        let mut removed: Vec<String> = state
            .known
            .names()
            .into_iter()
            .filter(|name| !wanted.contains_key(name))
            .cloned()
            .collect();
        removed.extend(
            requested
                .iter()
                .filter(|name| !wanted.contains_key(name) && !state.known.contains(name))
                .cloned(),
        );
        if resources.is_empty() && removed.is_empty() && !always {
            return None;
        }
        Some(self.respond(ty, wanted, resources, removed))
    }

    /// Records that the proxy now holds `resources` and no longer `removed`, of
    /// `wanted` in all, and makes the response that says so.
    fn respond(
        &mut self,
        ty: XdsType,
        wanted: Resources,
        resources: Vec<Resource>,
        removed: Vec<String>,
    ) -> DeltaDiscoveryResponse {
        // Now the proxy holds exactly what it wants: the resources sent, the others
        // at the versions it had, none of those removed.
        self.types[ty].known = Known::exactly(wanted.clone());
        let version = type_version(self.snapshot.config_version, wanted.content_hash());
        let nonce = next_nonce();
        self.status.types[ty].record_sent(version.clone(), nonce.clone(), Arc::new(wanted));
        DeltaDiscoveryResponse {
            system_version_info: version,
            resources,
            type_url: ty.type_url().to_string(),
            removed_resources: removed,
            nonce,
            control_plane: control_plane(),
            ..Default::default()
        }
    }
}

/// A resource as a Delta response carries it.
fn wire_resource(r: &EncodedResource, ty: XdsType) -> Resource {
    Resource {
        name: r.name.clone(),
        version: r.version.clone(),
        resource: Some(r.to_any(ty)),
        ..Default::default()
    }
}
