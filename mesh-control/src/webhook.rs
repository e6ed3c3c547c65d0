//! The admission webhooks (HTTPS on 15017): sidecar injection at `/inject`, config
//! validation at `/validate`, and the upkeep of their configurations' `caBundle`.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};

pub mod ca_bundle;
pub mod server;
pub mod validate;

/// What the webhooks need to answer.
#[derive(Debug, Default)]
pub struct Webhooks {}

impl Webhooks {
    /// The injection webhook's answer.
    pub fn inject(&self, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        tracing::warn!(name = %request.name, "sidecar injection is not wired yet; pod admitted unchanged");
        AdmissionResponse::from(request)
    }
}
