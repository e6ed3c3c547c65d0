//! What one SDS stream says and when (pure): the names Envoy asked for, the version
//! of each it last got, the nonce of the last response. A response goes out when
//! the names change or a named secret has a new version; ACKs are noted, NACKs
//! logged and not answered with the same version again; a request carrying a stale
//! nonce is ignored, as xDS servers do. Names the agent does not have are never
//! answered.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse, Resource,
};
use mesh_api::xds::type_url;

use super::secrets::SecretResource;

/// A State-of-the-World stream (`StreamSecrets`).
#[derive(Debug, Default)]
pub(crate) struct SotwStream {
    /// `None` until the first request.
    names: Option<BTreeSet<String>>,
    /// Name → the version last sent.
    sent: BTreeMap<String, String>,
    nonces: u64,
    last_nonce: String,
}

/// A Delta stream (`DeltaSecrets`).
#[derive(Debug, Default)]
pub(crate) struct DeltaStream {
    subscribed: BTreeSet<String>,
    /// Name → the version Envoy has (sent, or announced on reconnect).
    sent: BTreeMap<String, String>,
    started: bool,
    nonces: u64,
}

impl SotwStream {
    pub(crate) fn on_request(
        &mut self,
        request: DiscoveryRequest,
        secrets: &[SecretResource],
    ) -> Option<DiscoveryResponse> {
        if !request.response_nonce.is_empty() && request.response_nonce != self.last_nonce {
            tracing::debug!(nonce = %request.response_nonce, "SDS: ignoring a request with a stale nonce");
            return None;
        }
        if let Some(error) = &request.error_detail {
            tracing::warn!(
                names = ?request.resource_names,
                version = %request.version_info,
                "Envoy refused the secrets (NACK): {}",
                error.message
            );
        } else if !request.response_nonce.is_empty() {
            tracing::debug!(version = %request.version_info, "SDS: ACK");
        }
        let names: BTreeSet<String> = request.resource_names.into_iter().collect();
        if self.names.as_ref() == Some(&names) {
            return None;
        }
        // New names: Envoy wants the whole set again.
        self.names = Some(names);
        self.sent.clear();
        self.respond(secrets)
    }

    pub(crate) fn on_update(&mut self, secrets: &[SecretResource]) -> Option<DiscoveryResponse> {
        self.names.as_ref()?;
        self.respond(secrets)
    }

    fn respond(&mut self, secrets: &[SecretResource]) -> Option<DiscoveryResponse> {
        let names = self.names.as_ref()?;
        let wanted: Vec<&SecretResource> =
            secrets.iter().filter(|s| names.contains(s.name)).collect();
        let changed = wanted
            .iter()
            .any(|s| self.sent.get(s.name) != Some(&s.version));
        if !changed {
            return None;
        }
        self.nonces += 1;
        self.last_nonce = self.nonces.to_string();
        for s in &wanted {
            self.sent.insert(s.name.to_string(), s.version.clone());
        }
        Some(DiscoveryResponse {
            version_info: wanted
                .iter()
                .map(|s| s.version.as_str())
                .collect::<Vec<_>>()
                .join("/"),
            resources: wanted.iter().map(|s| s.resource.clone()).collect(),
            type_url: type_url::SECRET.to_string(),
            nonce: self.last_nonce.clone(),
            ..Default::default()
        })
    }
}

impl DeltaStream {
    pub(crate) fn on_request(
        &mut self,
        request: DeltaDiscoveryRequest,
        secrets: &[SecretResource],
    ) -> Option<DeltaDiscoveryResponse> {
        if let Some(error) = &request.error_detail {
            tracing::warn!(
                nonce = %request.response_nonce,
                "Envoy refused the secrets (NACK): {}",
                error.message
            );
        } else if !request.response_nonce.is_empty() {
            tracing::debug!(nonce = %request.response_nonce, "SDS: ACK");
        }
        if !self.started {
            // A reconnecting Envoy says what it holds: not sent again if current.
            self.started = true;
            self.sent.extend(request.initial_resource_versions);
        }
        self.subscribed.extend(request.resource_names_subscribe);
        for name in request.resource_names_unsubscribe {
            self.subscribed.remove(&name);
            self.sent.remove(&name);
        }
        self.respond(secrets)
    }

    pub(crate) fn on_update(
        &mut self,
        secrets: &[SecretResource],
    ) -> Option<DeltaDiscoveryResponse> {
        self.respond(secrets)
    }

    fn respond(&mut self, secrets: &[SecretResource]) -> Option<DeltaDiscoveryResponse> {
        let resources: Vec<Resource> = secrets
            .iter()
            .filter(|s| self.subscribed.contains(s.name))
            .filter(|s| self.sent.get(s.name) != Some(&s.version))
            .map(|s| Resource {
                name: s.name.to_string(),
                version: s.version.clone(),
                resource: Some(s.resource.clone()),
                ..Default::default()
            })
            .collect();
        if resources.is_empty() {
            return None;
        }
        for r in &resources {
            self.sent.insert(r.name.clone(), r.version.clone());
        }
        self.nonces += 1;
        Some(DeltaDiscoveryResponse {
            resources,
            type_url: type_url::SECRET.to_string(),
            nonce: self.nonces.to_string(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests;
