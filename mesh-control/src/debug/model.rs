//! `/debug/config`: the mesh model in force, as the control plane understood the
//! config: services with their ports and endpoints, and every config error.

use mesh_api::model::{MeshModel, Service, TargetPort};
use serde_json::{Value, json};

use crate::config::ConfigSnapshot;

/// The summary of a config snapshot.
pub(crate) fn config_summary(snapshot: &ConfigSnapshot) -> Value {
    let model: &MeshModel = &snapshot.model;
    json!({
        "config_version": snapshot.version,
        "errors": snapshot.errors,
        "services": model.services.values().map(service).collect::<Vec<_>>(),
        "workloads": model.workloads.values().map(|w| json!({
            "name": w.name,
            "namespace": w.namespace,
            "address": w.address,
            "labels": w.labels,
            "service_account": w.service_account,
            "services": w.services,
        })).collect::<Vec<_>>(),
        "objects": model.objects.len(),
    })
}

fn service(s: &Service) -> Value {
    json!({
        "hostname": s.hostname,
        "namespace": s.namespace,
        "addresses": s.addresses,
        "resolution": s.resolution,
        "mesh_internal": s.mesh_internal,
        "ports": s.ports.iter().map(|p| json!({
            "name": p.name,
            "port": p.port,
            "protocol": p.protocol,
            "target_port": match &p.target_port {
                TargetPort::Number(n) => json!(n),
                TargetPort::Name(n) => json!(n),
            },
        })).collect::<Vec<_>>(),
        "endpoints": s.endpoints.iter().map(|e| json!({
            "address": e.address,
            "ports": e.ports,
            "labels": e.labels,
            "workload": e.workload.as_ref().map(ToString::to_string),
            "weight": e.weight,
            "locality": e.locality,
        })).collect::<Vec<_>>(),
        "virtual_services": s.policies.virtual_services.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "destination_rules": s.policies.destination_rules.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "subsets": s.policies.subsets,
    })
}
