//! Keeps the `caBundle` of the webhook configurations equal to the control plane's
//! trust bundle, so that the API server trusts the webhooks' serving certificate: at
//! start, and again whenever the configuration changes (a `helm upgrade` resets it).

use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::api::PostParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use kube::{Api, Client};

/// Keeps the named configurations' webhooks pointing at `bundle` (PEM), forever.
pub async fn keep_current(
    client: Client,
    mutating: Option<String>,
    validating: Option<String>,
    bundle: String,
) {
    let mut tasks = Vec::new();
    if let Some(name) = mutating {
        let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
        tasks.push(tokio::spawn(keep(api, name, bundle.clone())));
    }
    if let Some(name) = validating {
        let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
        tasks.push(tokio::spawn(keep(api, name, bundle)));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// A webhook configuration: both kinds hold their webhooks' `caBundle` alike.
trait WebhookConfiguration {
    fn ca_bundles(&mut self) -> Vec<&mut Option<ByteString>>;

    /// Sets every webhook's bundle; whether any changed.
    fn set_ca_bundle(&mut self, bundle: &[u8]) -> bool {
        let mut changed = false;
        for field in self.ca_bundles() {
            if field.as_ref().is_none_or(|b| b.0 != bundle) {
                *field = Some(ByteString(bundle.to_vec()));
                changed = true;
            }
        }
        changed
    }
}

impl WebhookConfiguration for MutatingWebhookConfiguration {
    fn ca_bundles(&mut self) -> Vec<&mut Option<ByteString>> {
        self.webhooks
            .iter_mut()
            .flatten()
            .map(|w| &mut w.client_config.ca_bundle)
            .collect()
    }
}

impl WebhookConfiguration for ValidatingWebhookConfiguration {
    fn ca_bundles(&mut self) -> Vec<&mut Option<ByteString>> {
        self.webhooks
            .iter_mut()
            .flatten()
            .map(|w| &mut w.client_config.ca_bundle)
            .collect()
    }
}

async fn keep<K>(api: Api<K>, name: String, bundle: String)
where
    K: WebhookConfiguration
        + kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher::watcher(api.clone(), config)
        .backoff(crate::kube_source::WatchBackoff::default())
        .applied_objects()
        .boxed();
    let kind = K::kind(&()).to_string();
    // Until the configuration has been seen, a quiet watch may mean it does not exist:
    // asked once, not every 30 s.
    let mut seen = false;
    let mut warned_missing = false;
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), events.next()).await;
        let object = match next {
            Ok(Some(Ok(object))) => object,
            Ok(Some(Err(error))) => {
                tracing::warn!(%kind, %name, %error, "cannot watch the webhook configuration; retrying");
                continue;
            }
            Ok(None) => return,
            Err(_) => {
                if !seen && !warned_missing && api.get_opt(&name).await.ok().flatten().is_none() {
                    tracing::warn!(%kind, %name, "webhook configuration not found: install the mesh-control chart, or pass the right name");
                    warned_missing = true;
                }
                continue;
            }
        };
        seen = true;
        let mut updated = object;
        if !updated.set_ca_bundle(bundle.as_bytes()) {
            continue;
        }
        // A replace guarded by the resourceVersion we read: a concurrent edit makes it
        // fail with 409, and the watch brings the new version to patch again.
        match api.replace(&name, &PostParams::default(), &updated).await {
            Ok(_) => tracing::info!(%kind, %name, "caBundle updated"),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                tracing::debug!(%kind, %name, "caBundle update conflicted; retrying on the next version");
            }
            Err(error) => {
                tracing::warn!(%kind, %name, %error, "cannot update the caBundle; check mesh-control's RBAC (update on the webhook configurations)")
            }
        }
    }
}
