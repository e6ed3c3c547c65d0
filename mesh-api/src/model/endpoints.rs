//! Service endpoints: which workloads a selector picks, and the port each service port
//! lands on.

use std::collections::BTreeMap;

use super::{Endpoint, ServicePort, TargetPort, Workload};
use crate::networking::WorkloadEntrySpec;
use crate::object::ObjectRef;

/// Label selection as Kubernetes does it for Services: every selector label must be
/// present with the same value. An empty selector selects everything.
pub(super) fn selects(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The endpoint a workload provides for a service, or `None` when it has no address.
///
/// Port per service port: the workload's port named like the service port (Istio's
/// WorkloadEntry rule); else the named target port; else the numeric target port.
/// A named target port the workload does not declare gives no port, as a Pod without
/// that container port would.
pub(super) fn workload_endpoint(
    r: &ObjectRef,
    workload: &Workload,
    ports: &[ServicePort],
) -> Option<Endpoint> {
    if workload.address.is_empty() {
        return None;
    }
    Some(Endpoint {
        workload: Some(r.clone()),
        address: workload.address.clone(),
        ports: port_map(ports, &workload.ports),
        labels: workload.labels.clone(),
        service_account: Some(workload.service_account.clone()),
        locality: workload.locality.clone(),
        weight: None,
    })
}

/// A ServiceEntry's inline endpoint.
pub(super) fn inline_endpoint(spec: &WorkloadEntrySpec, ports: &[ServicePort]) -> Option<Endpoint> {
    let address = spec.address.clone().filter(|a| !a.is_empty())?;
    let named: BTreeMap<String, u16> = spec
        .ports
        .iter()
        .filter_map(|(name, port)| Some((name.clone(), u16::try_from(*port).ok()?)))
        .collect();
    Some(Endpoint {
        workload: None,
        address,
        ports: port_map(ports, &named),
        labels: spec.labels.clone(),
        service_account: spec.service_account.clone(),
        locality: spec.locality.clone(),
        weight: spec.weight,
    })
}

fn port_map(ports: &[ServicePort], named: &BTreeMap<String, u16>) -> BTreeMap<u16, u16> {
    ports
        .iter()
        .filter_map(|p| {
            let by_service_port_name = p.name.as_ref().and_then(|n| named.get(n)).copied();
            let target = by_service_port_name.or(match &p.target_port {
                TargetPort::Number(n) => Some(*n),
                TargetPort::Name(name) => named.get(name).copied(),
            })?;
            Some((p.port, target))
        })
        .collect()
}
