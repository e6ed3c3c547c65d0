//! `/debug/config`: the mesh model in force, as the control plane understood the
//! config (services with their ports and endpoints, workloads), and every config
//! error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Protocol, Resolution, TargetPort};

/// A summary of one config snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshConfigSummary {
    /// Increases by one with every change of the objects in force.
    pub config_version: u64,
    /// Every current problem, one line each (`file:line (document N): Kind ns/name: field: …`).
    pub errors: Vec<String>,
    pub services: Vec<ServiceSummary>,
    pub workloads: Vec<WorkloadSummary>,
    /// How many objects the model was built from.
    pub objects: usize,
}

/// One service of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummary {
    /// The FQDN (`reviews.bookinfo.svc.cluster.local`) or ServiceEntry host.
    pub hostname: String,
    pub namespace: String,
    pub addresses: Vec<String>,
    pub resolution: Resolution,
    pub mesh_internal: bool,
    pub ports: Vec<ServicePortSummary>,
    pub endpoints: Vec<EndpointSummary>,
    /// The VirtualServices that route it, as `VirtualService ns/name`.
    pub virtual_services: Vec<String>,
    /// The DestinationRules that apply to it, in precedence order.
    pub destination_rules: Vec<String>,
    /// Subset names of the first DestinationRule.
    pub subsets: Vec<String>,
}

/// One port of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicePortSummary {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    /// A number, or the name of a workload port.
    pub target_port: TargetPort,
}

/// One backend of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSummary {
    pub address: String,
    /// Service port → the endpoint's port for it.
    pub ports: BTreeMap<u16, u16>,
    pub labels: BTreeMap<String, String>,
    /// The WorkloadEntry behind it, as `WorkloadEntry ns/name`.
    pub workload: Option<String>,
    pub weight: Option<u32>,
    pub locality: Option<String>,
}

/// One workload (a WorkloadEntry, a pod in universal mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadSummary {
    pub name: String,
    pub namespace: String,
    pub address: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: String,
    /// FQDNs of the services that select it.
    pub services: Vec<String>,
}
