//! How an outbound cluster secures its connections, as istiod decides it
//! (`buildAutoMtlsSettings`): the DestinationRule's `tls` after Istio's merge
//! (DISABLE: plain text; ISTIO_MUTUAL: the mesh's mTLS to every endpoint; SIMPLE
//! and MUTUAL: TLS with files), else auto mTLS (Istio's `enableAutoMtls`, on by
//! default): mTLS to the endpoints that run a sidecar, plain text to the others.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use mesh_api::identity::SpiffeId;
use mesh_api::model::{MeshModel, Service, ServiceOrigin};
use mesh_api::networking::{ClientTlsSettings, TlsMode};
use mesh_api::object::MeshObject;
use mesh_api::security::MtlsMode;

use super::mtls::{auto_mtls_matches, istio_upstream_tls};
use super::names::istio_mtls_sni;
use super::tls::upstream_tls;

/// The destination of one cluster, as the TLS decision sees it.
pub(crate) struct UpstreamTarget<'a> {
    pub(crate) service: &'a Service,
    /// The service's [`service_identities`] (the same for all its clusters).
    pub(crate) identities: &'a [String],
    /// The mTLS mode of the service's namespace ([`MeshModel::namespace_mtls_mode`]).
    pub(crate) namespace_mode: MtlsMode,
    pub(crate) port: u16,
    /// The subset's name, empty for the whole service.
    pub(crate) subset: &'a str,
    /// Whether the cluster speaks HTTP/2 upstream (offered in ALPN).
    pub(crate) http2: bool,
    /// Whether the proxy has a workload certificate to present (its node's `SDS`).
    pub(crate) sds: bool,
}

/// Sets the cluster's `transport_socket` or `transport_socket_matches` for `tls`, the
/// DestinationRule's merged setting (`None` when no rule sets one).
pub(crate) fn apply_upstream_tls(
    c: &mut Cluster,
    tls: Option<&ClientTlsSettings>,
    target: &UpstreamTarget<'_>,
) {
    c.transport_socket = None;
    c.transport_socket_matches = Vec::new();
    let Some(tls) = tls else {
        if auto_mtls_applies(c, target) {
            let socket = istio_upstream_tls(&default_sni(target), target.identities, target.http2);
            c.transport_socket_matches = auto_mtls_matches(socket);
        }
        return;
    };
    // A `tls` without a mode is Istio's DISABLE (the enum's zero value).
    match tls.mode.unwrap_or(TlsMode::Disable) {
        TlsMode::Disable => {}
        TlsMode::IstioMutual => {
            let sni = tls.sni.clone().unwrap_or_else(|| default_sni(target));
            let sans = if tls.subject_alt_names.is_empty() {
                target.identities.to_vec()
            } else {
                tls.subject_alt_names.clone()
            };
            c.transport_socket = Some(istio_upstream_tls(&sni, &sans, target.http2));
        }
        TlsMode::Simple | TlsMode::Mutual => {
            c.transport_socket = upstream_tls(tls, &target.service.hostname);
        }
    }
}

/// Istio leaves auto mTLS off for services outside the mesh, for ORIGINAL_DST
/// clusters (no endpoints to label) and when the service's namespace turned mTLS off
/// (its PeerAuthentication, else the mesh's, says DISABLE); and a proxy without an
/// identity has no certificate to offer.
fn auto_mtls_applies(c: &Cluster, target: &UpstreamTarget<'_>) -> bool {
    let original_dst = c.cluster_discovery_type
        == Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::OriginalDst as i32,
        ));
    target.sds
        && target.service.mesh_internal
        && !original_dst
        && target.namespace_mode != MtlsMode::Disable
}

fn default_sni(target: &UpstreamTarget<'_>) -> String {
    istio_mtls_sni(target.port, target.subset, &target.service.hostname)
}

/// The identities a service's endpoints may present: the SPIFFE ID of every service
/// account behind it, plus a ServiceEntry's `subjectAltNames`; sorted, without
/// duplicates. Empty when none is known (then any mesh certificate is accepted).
pub(crate) fn service_identities(model: &MeshModel, service: &Service) -> Vec<String> {
    let trust_domain = &model.settings.trust_domain;
    let mut out: Vec<String> = service
        .endpoints
        .iter()
        .filter_map(|e| {
            let account = e.service_account.as_deref().filter(|a| !a.is_empty())?;
            let namespace = e
                .workload
                .as_ref()
                .map_or(service.namespace.as_str(), |w| w.namespace.as_str());
            Some(SpiffeId::new(trust_domain, namespace, account).to_string())
        })
        .collect();
    if let ServiceOrigin::ServiceEntry(r) = &service.origin
        && let Some(MeshObject::ServiceEntry(se)) = model.object(r)
    {
        out.extend(se.spec.subject_alt_names.iter().cloned());
    }
    out.sort();
    out.dedup();
    out
}
