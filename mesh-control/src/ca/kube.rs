//! The CA on Kubernetes: the same [`CertificateAuthority`] as `--ca-dir`, with its
//! root kept in Secrets of the control plane's namespace and its callers' projected
//! ServiceAccount tokens checked with TokenReview.
//!
//! - [`secret`]: `cacerts` (a plug-in CA), else `istio-ca-secret` (the self-signed
//!   root), and the workload-token key, as Istio names them.
//! - [`lease`]: the Lease `mesh-ca-root` under which one replica creates them.
//! - [`token_review`]: `authentication.k8s.io/v1` TokenReview for 15010/15012 callers.
//! - [`root_publisher`]: the trust bundle in ConfigMap `mesh-ca-root-cert` of every
//!   namespace, where injected pods mount it.
//!
//! docs/security.md ("On Kubernetes") is the user's view.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, Client};
use ring::rand::{SecureRandom as _, SystemRandom};

use super::authority::{Authority, AuthorityError};
use super::ca_dir::{new_root, new_token_key};
use super::key::{self, CaKeyType, KeyError};
use super::token::{TokenKey, TokenKeyError};
use super::{CertificateAuthority, LifetimePolicy};

pub mod lease;
#[cfg(test)]
pub(crate) mod mock;
pub mod root_publisher;
pub mod secret;
pub mod token_review;

pub use lease::{LEASE_NAME, LeaseLock};
pub use root_publisher::{NamespaceScope, ROOT_CERT_CONFIGMAP, publish_roots};
pub use secret::{CaSecretKind, PLUGIN_SECRET, SELF_SIGNED_SECRET, SecretError, TOKEN_KEY_SECRET};
pub use token_review::{DEFAULT_AUDIENCE, ReviewError, ReviewedToken, TokenReviewer};

/// How the CA is set up on Kubernetes (from the command line).
#[derive(Debug, Clone)]
pub struct KubeCaConfig {
    /// The control plane's namespace: the Secrets and the Lease live there.
    pub namespace: String,
    pub trust_domain: String,
    /// The key of a new self-signed root.
    pub key_type: CaKeyType,
    pub lifetimes: LifetimePolicy,
    /// This replica's name in the Lease ([`holder_identity`] gives one).
    pub holder_identity: String,
}

/// Why the CA cannot be opened. Each names the object and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KubeCaError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot {action} {object} in namespace {namespace}: {error}{hint}")]
    Api {
        action: &'static str,
        object: String,
        namespace: String,
        error: kube::Error,
        hint: String,
    },
    #[error("cannot make a new root CA: {0}")]
    Key(#[from] KeyError),
    #[error("cannot make a new root CA: {0}")]
    Root(#[from] AuthorityError),
    #[error("cannot make a new workload-token key: {0}")]
    TokenKey(#[from] TokenKeyError),
}

/// What the Secrets held at one look.
#[derive(Debug, Default)]
struct Found {
    authority: Option<Authority>,
    token_key: Option<TokenKey>,
}

/// Opens the CA from the Secrets of `config.namespace`: `cacerts` if present, else
/// `istio-ca-secret`; when neither exists (first start), one replica makes a new
/// self-signed root under the Lease [`LEASE_NAME`] and the others wait for it and
/// load it. The workload-token key ([`TOKEN_KEY_SECRET`]) is made the same way.
pub async fn open(
    client: Client,
    config: &KubeCaConfig,
) -> Result<CertificateAuthority, KubeCaError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &config.namespace);
    let lock = LeaseLock::new(
        Api::namespaced(client, &config.namespace),
        LEASE_NAME,
        &config.holder_identity,
    );
    let mut observed = None;
    loop {
        if let Found {
            authority: Some(authority),
            token_key: Some(token_key),
        } = load(&secrets, config).await?
        {
            return Ok(CertificateAuthority::new(
                authority,
                token_key,
                &config.trust_domain,
                config.lifetimes,
            ));
        }
        let attempt = lock
            .try_acquire(&mut observed, tokio::time::Instant::now())
            .await
            .map_err(api_error("take", format!("Lease {LEASE_NAME}"), config))?;
        match attempt {
            lease::Attempt::Acquired(lease) => {
                // Under the Lease: look again (the last holder may have just made
                // them), then create what is still missing.
                let created = create_missing(&secrets, config).await;
                lock.release(*lease).await;
                created?;
            }
            lease::Attempt::Held { holder, wait } => {
                tracing::info!(
                    lease = LEASE_NAME,
                    %holder,
                    "another mesh-control replica is creating the CA; waiting for it"
                );
                tokio::time::sleep(wait).await;
            }
            lease::Attempt::Lost => {}
        }
    }
}

/// A name for this replica in the Lease: the pod's name (client-go: the hostname)
/// and a random suffix, so that a restarted pod is a new candidate.
pub fn holder_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "mesh-control".to_string());
    let mut suffix = [0u8; 4];
    // Without randomness the pod name alone still tells replicas apart.
    let _ = SystemRandom::new().fill(&mut suffix);
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}_{suffix}")
}

/// The CA and the token key, as far as they exist.
async fn load(secrets: &Api<Secret>, config: &KubeCaConfig) -> Result<Found, KubeCaError> {
    let now = SystemTime::now();
    let get = |name: &'static str| async move {
        secrets
            .get_opt(name)
            .await
            .map_err(api_error("read", format!("Secret {name}"), config))
    };
    let authority = match get(PLUGIN_SECRET).await? {
        Some(plugin) => Some(secret::authority_of(&plugin, CaSecretKind::Plugin, now)?),
        None => match get(SELF_SIGNED_SECRET).await? {
            Some(own) => Some(secret::authority_of(&own, CaSecretKind::SelfSigned, now)?),
            None => None,
        },
    };
    let token_key = match get(TOKEN_KEY_SECRET).await? {
        Some(found) => Some(secret::token_key_of(&found)?),
        None => None,
    };
    Ok(Found {
        authority,
        token_key,
    })
}

/// Creates the Secrets that are missing. One that another replica created first
/// (409 AlreadyExists) is theirs to keep: the caller loads it.
async fn create_missing(secrets: &Api<Secret>, config: &KubeCaConfig) -> Result<(), KubeCaError> {
    let found = load(secrets, config).await?;
    if found.authority.is_none() {
        // An RSA 4096 key takes seconds: off the async workers.
        let key_type = config.key_type;
        let key = tokio::task::spawn_blocking(move || key::generate(key_type))
            .await
            .map_err(|e| KeyError::Generation {
                what: format!("{key_type:?}"),
                reason: e.to_string(),
            })??;
        let root = new_root(&key, &config.trust_domain, SystemTime::now())?;
        let new = secret::self_signed_secret(&config.namespace, &root);
        if create(secrets, &new, config).await? {
            tracing::info!(
                secret = SELF_SIGNED_SECRET,
                namespace = %config.namespace,
                "created a new self-signed root CA"
            );
        }
    }
    if found.token_key.is_none() {
        let (_, key_pem) = new_token_key()?;
        create(
            secrets,
            &secret::token_key_secret(&config.namespace, &key_pem),
            config,
        )
        .await?;
    }
    Ok(())
}

/// False when the Secret exists already.
async fn create(
    secrets: &Api<Secret>,
    new: &Secret,
    config: &KubeCaConfig,
) -> Result<bool, KubeCaError> {
    let name = new.metadata.name.clone().unwrap_or_default();
    match secrets.create(&PostParams::default(), new).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
        Err(error) => Err(api_error("create", format!("Secret {name}"), config)(error)),
    }
}

fn api_error<'a>(
    action: &'static str,
    object: String,
    config: &'a KubeCaConfig,
) -> impl Fn(kube::Error) -> KubeCaError + 'a {
    move |error| {
        let hint = match &error {
            kube::Error::Api(status) if status.is_forbidden() => format!(
                "; grant mesh-control's ServiceAccount get and create on secrets and leases \
                 (coordination.k8s.io) in {} (the mesh-control chart's Role does)",
                config.namespace
            ),
            _ => String::new(),
        };
        KubeCaError::Api {
            action,
            object: object.clone(),
            namespace: config.namespace.clone(),
            error,
            hint,
        }
    }
}

#[cfg(test)]
mod tests;
