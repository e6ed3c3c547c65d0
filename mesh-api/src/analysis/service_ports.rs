//! Port naming: Istio picks a port's protocol from `appProtocol` or a name of the form
//! `<protocol>[-<suffix>]`; other ports get protocol detection, which users rarely mean.

use super::Context;
use super::message::{Message, codes};
use crate::model::{Protocol, ServiceOrigin};
use crate::object::ObjectRef;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for service in cx.model.services.values() {
        if service.origin != ServiceOrigin::Kubernetes {
            continue;
        }
        let r = ObjectRef {
            kind: crate::object::Kind::Service,
            namespace: service.namespace.clone(),
            name: service.name.clone(),
        };
        for (i, port) in service.ports.iter().enumerate() {
            if port.protocol_explicit {
                continue;
            }
            let name = port.name.as_deref().unwrap_or("");
            let target = match &port.target_port {
                crate::model::TargetPort::Number(n) => n.to_string(),
                crate::model::TargetPort::Name(n) => n.clone(),
            };
            debug_assert_eq!(Protocol::from_port_name(name), None);
            out.push(cx.message(
                codes::PORT_NAME_NOT_UNDER_NAMING_CONVENTION,
                &r,
                format!("spec.ports[{i}].name"),
                format!(
                    "Port name {name:?} (port: {}, targetPort: {target}) doesn't follow the naming convention of Istio port; its protocol will be detected",
                    port.port
                ),
                "name the port <protocol>[-<suffix>] (http, http2, grpc, tcp, tls, https, mongo, mysql, redis; e.g. http-web) or set appProtocol",
            ));
        }
    }
}
