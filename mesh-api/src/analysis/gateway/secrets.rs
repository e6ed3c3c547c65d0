//! Each server's `credentialName` names a Secret in the gateway workload's namespace,
//! and that Secret holds a certificate and key, the certificate valid now.

use super::super::x509;
use super::{GATEWAY, selected_pods, selector_not_found};
use crate::analysis::Context;
use crate::analysis::codes;
use crate::analysis::input::{InputKind, InputObject, items};
use crate::analysis::message::Message;

pub(super) fn analyze(cx: &Context<'_>, out: &mut Vec<Message>) {
    for gateway in cx.all(GATEWAY) {
        let Some(pod) = selected_pods(cx, gateway).into_iter().next() else {
            out.push(selector_not_found(cx, gateway));
            continue;
        };
        for (i, server) in items(&gateway.spec()["servers"]).iter().enumerate() {
            let Some(credential) = server["tls"]["credentialName"]
                .as_str()
                .filter(|c| !c.is_empty())
            else {
                continue;
            };
            let field = format!("spec.servers[{i}].tls.credentialName");
            let (namespace, name) = credential
                .split_once('/')
                .unwrap_or((pod.namespace.as_str(), credential));
            let Some(secret) = cx.find(InputKind::Secret, namespace, name) else {
                out.push(cx.message(
                    codes::REFERENCED_RESOURCE_NOT_FOUND,
                    gateway,
                    field,
                    format!("Referenced credentialName not found: {credential:?}"),
                    format!(
                        "create Secret {namespace}/{name} (in the namespace of the gateway's pods) with tls.crt and tls.key"
                    ),
                ));
                continue;
            };
            if let Err(problem) = valid_credential(secret, cx.options.now) {
                out.push(cx.message(
                    codes::INVALID_GATEWAY_CREDENTIAL,
                    gateway,
                    field,
                    format!(
                        "The credential referenced by the Gateway {} in namespace {} is invalid, which can cause the traffic not to work as expected.",
                        gateway.name, pod.namespace
                    ),
                    format!("Secret {}: {problem}", secret.full_name()),
                ));
            }
        }
    }
}

/// Whether the Secret holds a certificate and key (`cert`/`key` or
/// `tls.crt`/`tls.key`) and every certificate of the first PEM block is valid at `now`.
fn valid_credential(secret: &InputObject, now: i64) -> Result<(), String> {
    let value = |key: &str| -> Option<Vec<u8>> {
        if let Some(encoded) = secret.value["data"][key].as_str() {
            return x509::base64_decode(encoded).filter(|v| !v.is_empty());
        }
        secret.value["stringData"][key]
            .as_str()
            .map(|s| s.as_bytes().to_vec())
            .filter(|v| !v.is_empty())
    };
    let cert = match (
        value("cert"),
        value("key"),
        value("tls.crt"),
        value("tls.key"),
    ) {
        (Some(cert), Some(_), _, _) | (_, _, Some(cert), Some(_)) => cert,
        _ => {
            return Err(
                "holds no certificate and key (keys cert and key, or tls.crt and tls.key)"
                    .to_string(),
            );
        }
    };
    let der = x509::first_pem_block(&cert).ok_or("the certificate is not PEM")?;
    let validity =
        x509::validity_periods(&der).ok_or("the certificate cannot be parsed as X.509")?;
    if validity
        .iter()
        .any(|(from, until)| now < *from || now > *until)
    {
        return Err("the certificate is expired or not yet valid".to_string());
    }
    Ok(())
}
