//! `meshctl proxy-config secret`: the certificates a proxy holds (the `default`
//! chain and the `ROOTCA` bundle), from the `SecretsConfigDump` of its admin
//! `/config_dump`. Envoy writes it and mesh-proxy copies its shape, so one reader
//! serves both, as istioctl reads Envoy's. Keys never leave the proxy, and the
//! control plane never sees them: the proxy's admin endpoint is asked directly.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail};
use base64::Engine as _;
use mesh_tls::CertificateInfo;
use serde_json::Value;

use super::proxy_admin;
use crate::proxy_status::table;

const SECRETS_CONFIG_DUMP: &str = "type.googleapis.com/envoy.admin.v3.SecretsConfigDump";
const BOOTSTRAP_CONFIG_DUMP: &str = "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump";

/// One certificate of one secret.
#[derive(Debug, Clone)]
pub(crate) struct SecretCertificate {
    pub(crate) resource: String,
    /// istioctl's words: `Cert Chain` or `CA`.
    pub(crate) kind: &'static str,
    /// `ACTIVE`, `WARMING` or `STATIC`, from the list it is in.
    pub(crate) status: &'static str,
    pub(crate) info: CertificateInfo,
}

/// What one proxy's `/config_dump` says about its secrets.
#[derive(Debug, Default)]
pub(crate) struct SecretsView {
    pub(crate) certificates: Vec<SecretCertificate>,
    /// The node id (Envoy's bootstrap; mesh-proxy's dump has none).
    pub(crate) node_id: Option<String>,
    /// The raw `SecretsConfigDump`, for `-o json`.
    pub(crate) raw: Value,
    /// Secrets that could not be read, and why.
    pub(crate) problems: Vec<String>,
}

/// The text `meshctl proxy-config secret PROXY` prints.
pub(crate) fn run(proxy: &str, admin: &str, json: bool) -> anyhow::Result<String> {
    let dump = proxy_admin::get_json(admin, "/config_dump")?;
    let view = secrets_view(&dump)?;
    check_proxy(&view, proxy, admin)?;
    if json {
        return Ok(format!("{}\n", serde_json::to_string_pretty(&view.raw)?));
    }
    Ok(render(&view, SystemTime::now()))
}

/// Reads the secrets of a `/config_dump`.
pub(crate) fn secrets_view(dump: &Value) -> anyhow::Result<SecretsView> {
    let configs = dump["configs"].as_array().ok_or_else(|| {
        anyhow!("the proxy's /config_dump has no `configs` list: is it Envoy, or a mesh-proxy that shows secrets?")
    })?;
    let of_type = |ty: &str| configs.iter().find(|c| c["@type"] == ty);
    let mut view = SecretsView {
        node_id: of_type(BOOTSTRAP_CONFIG_DUMP)
            .and_then(|b| b["bootstrap"]["node"]["id"].as_str())
            .map(str::to_string),
        raw: of_type(SECRETS_CONFIG_DUMP).cloned().unwrap_or(Value::Null),
        ..Default::default()
    };
    let raw = view.raw.clone();
    for (list, status) in [
        ("static_secrets", "STATIC"),
        ("dynamic_active_secrets", "ACTIVE"),
        ("dynamic_warming_secrets", "WARMING"),
    ] {
        for entry in raw[list].as_array().into_iter().flatten() {
            read_secret(entry, status, &mut view);
        }
    }
    Ok(view)
}

fn read_secret(entry: &Value, status: &'static str, view: &mut SecretsView) {
    let name = entry["name"].as_str().unwrap_or("(unnamed)").to_string();
    let secret = &entry["secret"];
    let (kind, source) = if secret["tls_certificate"].is_object() {
        (
            "Cert Chain",
            &secret["tls_certificate"]["certificate_chain"],
        )
    } else if secret["validation_context"].is_object() {
        ("CA", &secret["validation_context"]["trusted_ca"])
    } else {
        view.problems.push(format!(
            "{name}: neither a certificate nor a validation context"
        ));
        return;
    };
    let pem = match data_source(source) {
        Ok(pem) => pem,
        Err(e) => {
            view.problems.push(format!("{name}: {e}"));
            return;
        }
    };
    let certificates = match mesh_tls::certificates_from_pem(&pem, &name) {
        Ok(c) => c,
        Err(e) => {
            view.problems.push(e.to_string());
            return;
        }
    };
    for der in &certificates {
        match CertificateInfo::parse(der) {
            Ok(info) => view.certificates.push(SecretCertificate {
                resource: name.clone(),
                kind,
                status,
                info,
            }),
            Err(e) => view.problems.push(format!("{name}: {e}")),
        }
    }
}

/// The PEM of an Envoy DataSource as its JSON shows it (bytes are base64).
fn data_source(source: &Value) -> Result<Vec<u8>, String> {
    if let Some(b64) = source["inline_bytes"].as_str() {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("inline_bytes is not base64: {e}"));
    }
    if let Some(text) = source["inline_string"].as_str() {
        return Ok(text.as_bytes().to_vec());
    }
    if let Some(file) = source["filename"].as_str() {
        return Err(format!("read from {file} on the proxy's host, not shown"));
    }
    Err("no inline certificate".to_string())
}

/// The admin endpoint answered for the proxy asked about, as far as it can tell.
fn check_proxy(view: &SecretsView, proxy: &str, admin: &str) -> anyhow::Result<()> {
    if let Some(node) = &view.node_id {
        if node == proxy || node.split('~').any(|part| part == proxy) {
            return Ok(());
        }
        bail!(
            "the admin endpoint at {admin} is {node}'s, not {proxy}'s; pass --admin with {proxy}'s"
        );
    }
    let namespace = proxy.split_once('.').map(|(_, ns)| ns);
    let identity = spiffe_id(view);
    match (namespace, identity) {
        (Some(ns), Some(id)) if id.namespace != ns => bail!(
            "the admin endpoint at {admin} holds a certificate for {id}, not for a proxy in \
             namespace {ns}; pass --admin with {proxy}'s"
        ),
        _ => Ok(()),
    }
}

fn spiffe_id(view: &SecretsView) -> Option<mesh_api::identity::SpiffeId> {
    view.certificates
        .iter()
        .find(|c| c.kind == "Cert Chain" && c.status != "WARMING")
        .and_then(|c| c.info.spiffe_id().ok())
}

/// istioctl's table, then the SPIFFE ID and the roots.
pub(crate) fn render(view: &SecretsView, now: SystemTime) -> String {
    let mut rows = vec![
        [
            "RESOURCE NAME",
            "TYPE",
            "STATUS",
            "VALID CERT",
            "SERIAL NUMBER",
            "NOT AFTER",
            "NOT BEFORE",
        ]
        .map(str::to_string)
        .to_vec(),
    ];
    for c in &view.certificates {
        let valid = c.info.not_before <= now && now < c.info.not_after;
        rows.push(vec![
            c.resource.clone(),
            c.kind.to_string(),
            c.status.to_string(),
            valid.to_string(),
            c.info.serial.clone(),
            timestamp(c.info.not_after),
            timestamp(c.info.not_before),
        ]);
    }
    let mut out = table(&rows);
    if view.certificates.is_empty() {
        out.push_str(
            "\nno certificates: the proxy has no workload identity (mesh-proxy without \
             --root-cert, Envoy without an SDS agent) or is still waiting for its first one\n",
        );
    }
    if let Some(id) = spiffe_id(view) {
        out.push_str(&format!("\nSPIFFE ID: {id}\n"));
    }
    let roots: Vec<&SecretCertificate> = view
        .certificates
        .iter()
        .filter(|c| c.kind == "CA")
        .collect();
    if !roots.is_empty() {
        out.push_str(&format!("ROOTS ({}):\n", roots.len()));
        for root in roots {
            out.push_str(&format!(
                "  {} (serial {}, until {})\n",
                if root.info.subject.is_empty() {
                    "(no subject)"
                } else {
                    &root.info.subject
                },
                root.info.serial,
                timestamp(root.info.not_after)
            ));
        }
    }
    for problem in &view.problems {
        out.push_str(&format!("\ncannot show {problem}\n"));
    }
    out
}

/// RFC 3339 in UTC, as istioctl prints validity.
fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests;
