//! The CA's Secrets in the control plane's namespace, as Istio keeps them:
//! `cacerts` is a plug-in CA an operator made (read, never written);
//! `istio-ca-secret` is the self-signed root the control plane made on first start.
//! The workload-token key lives in `mesh-token-signing-key` in both cases, so that
//! every replica verifies the tokens any of them issued, whichever CA signs.
//! Pure: Secrets in, the CA's parts out (and the Secrets to create).

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ObjectMeta;

use crate::ca::authority::{
    Authority, AuthorityError, CA_CERT, CA_KEY, CERT_CHAIN, CaFiles, ROOT_CERT,
};
use crate::ca::ca_dir::{NewRoot, TOKEN_KEY, token_key_from_pem};
use crate::ca::token::{TokenKey, TokenKeyError};

/// The plug-in CA (Istio's name).
pub const PLUGIN_SECRET: &str = "cacerts";
/// The self-signed root (Istio's name).
pub const SELF_SIGNED_SECRET: &str = "istio-ca-secret";
/// The key that signs universal-mode workload tokens, key `token-signing-key.pem`.
pub const TOKEN_KEY_SECRET: &str = "mesh-token-signing-key";
/// Istio's type of `istio-ca-secret`.
pub const CA_ROOT_SECRET_TYPE: &str = "istio.io/ca-root";
/// The label on what mesh-control creates.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "mesh-control");

/// Which CA Secret a Secret is: the keys it must hold differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaSecretKind {
    /// `cacerts`: `ca-cert.pem`, `ca-key.pem`, `root-cert.pem`, and `cert-chain.pem`
    /// for an intermediate.
    Plugin,
    /// `istio-ca-secret`: `ca-cert.pem` and `ca-key.pem`; Istio leaves `root-cert.pem`
    /// empty there, since `ca-cert.pem` is the root.
    SelfSigned,
}

/// Why a CA Secret cannot be used. Each names the Secret, the key and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("Secret {secret} has no (or an empty) {missing}{present}: {fix}")]
    MissingKeys {
        secret: String,
        missing: String,
        present: String,
        fix: String,
    },
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    #[error(
        "Secret {secret} key {TOKEN_KEY}: {error}; delete the Secret and mesh-control makes a \
         new token key (workload tokens issued before stop working)"
    )]
    TokenKey {
        secret: String,
        error: TokenKeyError,
    },
}

/// The signing CA in `secret`, checked as `--ca-dir`'s files are, at `now`.
pub fn authority_of(
    secret: &Secret,
    kind: CaSecretKind,
    now: SystemTime,
) -> Result<Authority, SecretError> {
    let name = secret_name(secret);
    let value = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|data| data.get(key))
            .map(|bytes| bytes.0.as_slice())
            .filter(|bytes| !bytes.iter().all(u8::is_ascii_whitespace))
    };
    let required: &[&str] = match kind {
        CaSecretKind::Plugin => &[CA_CERT, CA_KEY, ROOT_CERT],
        CaSecretKind::SelfSigned => &[CA_CERT, CA_KEY],
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|key| value(key).is_none())
        .collect();
    if !missing.is_empty() {
        let present: Vec<&str> = [CA_CERT, CA_KEY, CERT_CHAIN, ROOT_CERT]
            .into_iter()
            .filter(|key| value(key).is_some())
            .collect();
        return Err(SecretError::MissingKeys {
            fix: fix_for(kind, secret),
            secret: name,
            missing: missing.join(", "),
            present: if present.is_empty() {
                String::new()
            } else {
                format!(" (it has {})", present.join(", "))
            },
        });
    }
    let (ca_cert, ca_key) = (
        value(CA_CERT).unwrap_or_default(),
        value(CA_KEY).unwrap_or_default(),
    );
    let prefix = format!("Secret {name} key ");
    let authority = Authority::from_files(
        CaFiles {
            ca_cert,
            ca_key,
            cert_chain: value(CERT_CHAIN),
            // Istio's own istio-ca-secret: the signing certificate is the root.
            root_cert: value(ROOT_CERT).unwrap_or(ca_cert),
            dir: &prefix,
        },
        now,
    )?;
    Ok(authority)
}

/// The token key in `secret`.
pub fn token_key_of(secret: &Secret) -> Result<TokenKey, SecretError> {
    let name = secret_name(secret);
    let bad = |error| SecretError::TokenKey {
        secret: name.clone(),
        error,
    };
    let pem = secret
        .data
        .as_ref()
        .and_then(|data| data.get(TOKEN_KEY))
        .ok_or_else(|| bad(TokenKeyError("the key is missing".into())))?;
    token_key_from_pem(&pem.0, &format!("Secret {name} key {TOKEN_KEY}")).map_err(bad)
}

/// `istio-ca-secret` for a new self-signed root: the root is its own chain and bundle.
pub fn self_signed_secret(namespace: &str, root: &NewRoot) -> Secret {
    let cert = root.cert_pem.as_bytes();
    secret(
        namespace,
        SELF_SIGNED_SECRET,
        CA_ROOT_SECRET_TYPE,
        [
            (CA_CERT, cert),
            (CA_KEY, root.key_pem.as_bytes()),
            (CERT_CHAIN, cert),
            (ROOT_CERT, cert),
        ],
    )
}

/// `mesh-token-signing-key` for a new token key.
pub fn token_key_secret(namespace: &str, key_pem: &str) -> Secret {
    secret(
        namespace,
        TOKEN_KEY_SECRET,
        "Opaque",
        [(TOKEN_KEY, key_pem.as_bytes())],
    )
}

fn secret<const N: usize>(
    namespace: &str,
    name: &str,
    type_: &str,
    data: [(&str, &[u8]); N],
) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                MANAGED_BY.0.to_string(),
                MANAGED_BY.1.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some(type_.to_string()),
        data: Some(
            data.into_iter()
                .map(|(key, value)| (key.to_string(), ByteString(value.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// `namespace/name`, as errors name a Secret.
fn secret_name(secret: &Secret) -> String {
    format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or(""),
        secret.metadata.name.as_deref().unwrap_or("")
    )
}

fn fix_for(kind: CaSecretKind, secret: &Secret) -> String {
    let namespace = secret
        .metadata
        .namespace
        .as_deref()
        .unwrap_or("mesh-system");
    match kind {
        CaSecretKind::Plugin => format!(
            "a plug-in CA needs ca-cert.pem, ca-key.pem, root-cert.pem and, for an \
             intermediate, cert-chain.pem; recreate it with `kubectl create secret generic \
             cacerts -n {namespace} --from-file=ca-cert.pem --from-file=ca-key.pem \
             --from-file=root-cert.pem --from-file=cert-chain.pem`"
        ),
        CaSecretKind::SelfSigned => format!(
            "the self-signed root's Secret is damaged; restore it from a backup, or delete it \
             (`kubectl delete secret {SELF_SIGNED_SECRET} -n {namespace}`) and restart \
             mesh-control to make a new root (every workload certificate must then be renewed)"
        ),
    }
}

#[cfg(test)]
mod tests;
