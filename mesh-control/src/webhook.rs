//! The admission webhooks (HTTPS on 15017): sidecar injection at `/inject`
//! ([`inject`]), config validation at `/validate` ([`validate`]), and the upkeep of
//! their configurations' `caBundle` ([`ca_bundle`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse};
use mesh_api::inject::{InjectionConfig, KubernetesVersion};
use mesh_api::object::{Kind, MeshObject, ObjectRef};
use tokio::sync::watch;

use crate::config::ConfigSnapshot;

pub mod ca_bundle;
pub mod inject;
pub mod server;
pub mod validate;

/// What the webhooks need to answer.
#[derive(Debug)]
pub struct Webhooks {
    injection: InjectionConfig,
    /// The API server's version: native sidecars from 1.29 (`nativeSidecar: auto`).
    kubernetes: Option<KubernetesVersion>,
    /// The config in force: the namespaces' labels come from it.
    config: watch::Receiver<Arc<ConfigSnapshot>>,
}

impl Webhooks {
    pub fn new(
        injection: InjectionConfig,
        kubernetes: Option<KubernetesVersion>,
        config: watch::Receiver<Arc<ConfigSnapshot>>,
    ) -> Webhooks {
        Webhooks {
            injection,
            kubernetes,
            config,
        }
    }

    /// The injection webhook's answer.
    pub fn inject(&self, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
        let namespace = request.namespace.clone().unwrap_or_default();
        let labels = self.namespace_labels(&namespace);
        inject::review(request, &labels, &self.injection, self.kubernetes)
    }

    fn namespace_labels(&self, namespace: &str) -> BTreeMap<String, String> {
        let snapshot = self.config.borrow().clone();
        let reference = ObjectRef {
            kind: Kind::Namespace,
            namespace: String::new(),
            name: namespace.to_string(),
        };
        match snapshot.model.object(&reference) {
            Some(MeshObject::Namespace(ns)) => ns.metadata.labels.clone().unwrap_or_default(),
            _ => BTreeMap::new(),
        }
    }
}
