//! `/debug/config`: the mesh model in force, as the control plane understood the
//! config: services with their ports and endpoints, and every config error.

use mesh_api::debug::{
    EndpointSummary, MeshConfigSummary, ServicePortSummary, ServiceSummary, WorkloadSummary,
};
use mesh_api::model::{Endpoint, MeshModel, Service, Workload};

use crate::config::ConfigSnapshot;

/// The summary of a config snapshot.
pub(crate) fn config_summary(snapshot: &ConfigSnapshot) -> MeshConfigSummary {
    let model: &MeshModel = &snapshot.model;
    MeshConfigSummary {
        config_version: snapshot.version,
        errors: snapshot.errors.clone(),
        services: model.services.values().map(service).collect(),
        workloads: model.workloads.values().map(workload).collect(),
        objects: model.objects.len(),
    }
}

fn service(s: &Service) -> ServiceSummary {
    let names =
        |refs: &[mesh_api::object::ObjectRef]| refs.iter().map(ToString::to_string).collect();
    ServiceSummary {
        hostname: s.hostname.clone(),
        namespace: s.namespace.clone(),
        addresses: s.addresses.clone(),
        resolution: s.resolution,
        mesh_internal: s.mesh_internal,
        ports: s
            .ports
            .iter()
            .map(|p| ServicePortSummary {
                name: p.name.clone(),
                port: p.port,
                protocol: p.protocol,
                target_port: p.target_port.clone(),
            })
            .collect(),
        endpoints: s.endpoints.iter().map(endpoint).collect(),
        virtual_services: names(&s.policies.virtual_services),
        destination_rules: names(&s.policies.destination_rules),
        subsets: s.policies.subsets.clone(),
    }
}

fn endpoint(e: &Endpoint) -> EndpointSummary {
    EndpointSummary {
        address: e.address.clone(),
        ports: e.ports.clone(),
        labels: e.labels.clone(),
        workload: e.workload.as_ref().map(ToString::to_string),
        weight: e.weight,
        locality: e.locality.clone(),
    }
}

fn workload(w: &Workload) -> WorkloadSummary {
    WorkloadSummary {
        name: w.name.clone(),
        namespace: w.namespace.clone(),
        address: w.address.clone(),
        labels: w.labels.clone(),
        service_account: w.service_account.clone(),
        services: w.services.clone(),
    }
}
