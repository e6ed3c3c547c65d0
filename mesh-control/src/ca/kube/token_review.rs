//! Kubernetes ServiceAccount tokens, checked by the API server's TokenReview
//! (`authentication.k8s.io/v1`), as istiod checks a sidecar's projected token: the
//! review must say `authenticated` for our audience (`istio-ca`), the user must be a
//! ServiceAccount, and a pod-bound token names its pod. Successful reviews are kept
//! for a minute (never past the token's `exp`), so that a burst of CSRs does not
//! become a burst of reviews.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use kube::api::PostParams;
use kube::{Api, Client};

/// The audience of the projected tokens injected pods mount (Istio's).
pub const DEFAULT_AUDIENCE: &str = "istio-ca";
/// How long a successful review is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// How many reviews are kept (one per live token; a token is about 1 KB).
pub const CACHE_CAPACITY: usize = 4096;

/// `user.extra` keys of a pod-bound token.
const POD_NAME: &str = "authentication.kubernetes.io/pod-name";
const POD_UID: &str = "authentication.kubernetes.io/pod-uid";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// Checks ServiceAccount tokens with TokenReview.
#[derive(Debug)]
pub struct TokenReviewer {
    api: Api<TokenReview>,
    audiences: Vec<String>,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    reviewed: ReviewedToken,
    until: SystemTime,
}

/// Who a reviewed token's bearer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewedToken {
    pub namespace: String,
    pub service_account: String,
    /// The pod a pod-bound token was issued for.
    pub pod: Option<BoundPod>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundPod {
    pub name: String,
    pub uid: Option<String>,
}

/// Why a token was refused. Each says what failed and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(
        "the Kubernetes token's audience is not {audiences}: mount a projected ServiceAccount \
         token with audience {audiences} (the injected sidecar's istio-token volume){detail}"
    )]
    WrongAudience { audiences: String, detail: String },
    #[error(
        "the Kubernetes API server did not authenticate the token: {0}; send the pod's \
         projected ServiceAccount token, unexpired, of a pod that still exists"
    )]
    NotAuthenticated(String),
    #[error(
        "the token's user {0:?} is not a ServiceAccount (system:serviceaccount:<namespace>:<name>): \
         only workloads get certificates; send the pod's projected ServiceAccount token"
    )]
    NotServiceAccount(String),
    #[error(
        "cannot review the token with the Kubernetes API server: {0}; grant mesh-control's \
         ServiceAccount create on tokenreviews (authentication.k8s.io), or check the API \
         server's health"
    )]
    Api(#[source] kube::Error),
}

impl TokenReviewer {
    /// A reviewer asking for `audiences` (`istio-ca` if empty).
    pub fn new(client: Client, audiences: Vec<String>) -> TokenReviewer {
        let audiences = if audiences.is_empty() {
            vec![DEFAULT_AUDIENCE.to_string()]
        } else {
            audiences
        };
        TokenReviewer {
            api: Api::all(client),
            audiences,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// Who `token`'s bearer is, from the cache or a new review.
    pub async fn review(&self, token: &str, now: SystemTime) -> Result<ReviewedToken, ReviewError> {
        if let Some(reviewed) = self.cached(token, now) {
            return Ok(reviewed);
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                audiences: Some(self.audiences.clone()),
                token: Some(token.to_string()),
            },
            ..TokenReview::default()
        };
        let answer = self
            .api
            .create(&PostParams::default(), &review)
            .await
            .map_err(ReviewError::Api)?;
        let reviewed = interpret(&answer.status.unwrap_or_default(), &self.audiences)?;
        self.remember(token, &reviewed, now);
        Ok(reviewed)
    }

    /// A successful review of `token` that is still fresh at `now`.
    pub fn cached(&self, token: &str, now: SystemTime) -> Option<ReviewedToken> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&digest(token))
            .filter(|c| now < c.until)
            .map(|c| c.reviewed.clone())
    }

    fn remember(&self, token: &str, reviewed: &ReviewedToken, now: SystemTime) {
        let until = expiry(token).map_or(now + CACHE_TTL, |exp| exp.min(now + CACHE_TTL));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| now < c.until);
        }
        if cache.len() >= CACHE_CAPACITY {
            // Still full of live reviews: forget the one that ends first.
            if let Some(first) = cache.iter().min_by_key(|(_, c)| c.until).map(|(k, _)| *k) {
                cache.remove(&first);
            }
        }
        cache.insert(
            digest(token),
            Cached {
                reviewed: reviewed.clone(),
                until,
            },
        );
    }
}

/// What a TokenReview's status proves, for a review that asked for `audiences`.
pub fn interpret(
    status: &TokenReviewStatus,
    audiences: &[String],
) -> Result<ReviewedToken, ReviewError> {
    let wanted = audiences.join(", ");
    if status.authenticated != Some(true) {
        let error = status
            .error
            .clone()
            .unwrap_or_else(|| "no reason given".into());
        // The API server says "token audiences ... is invalid for the target audiences".
        if error.contains("audience") {
            return Err(ReviewError::WrongAudience {
                audiences: wanted,
                detail: format!(" (the API server: {error})"),
            });
        }
        return Err(ReviewError::NotAuthenticated(error));
    }
    // An empty status.audiences means the token is valid for the API server itself,
    // not for us (the TokenReview API's documented contract).
    let granted = status.audiences.clone().unwrap_or_default();
    if !granted.iter().any(|a| audiences.contains(a)) {
        return Err(ReviewError::WrongAudience {
            audiences: wanted,
            detail: if granted.is_empty() {
                " (it is valid for the API server only)".to_string()
            } else {
                format!(" (it is valid for {})", granted.join(", "))
            },
        });
    }
    let user = status.user.clone().unwrap_or_default();
    let username = user.username.unwrap_or_default();
    let Some((namespace, service_account)) = username
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)
        .and_then(|rest| rest.split_once(':'))
        .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty() && !sa.contains(':'))
    else {
        return Err(ReviewError::NotServiceAccount(username));
    };
    let extra = user.extra.unwrap_or_default();
    let first = |key: &str| {
        extra
            .get(key)
            .and_then(|values| values.first())
            .filter(|v| !v.is_empty())
            .cloned()
    };
    Ok(ReviewedToken {
        namespace: namespace.to_string(),
        service_account: service_account.to_string(),
        pod: first(POD_NAME).map(|name| BoundPod {
            name,
            uid: first(POD_UID),
        }),
    })
}

/// Whether `token` looks like a JWT at all (three dot-separated parts).
pub fn is_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The token's `exp`, read without verifying it: only to end a cached review no
/// later than the token (the API server verified it).
fn expiry(token: &str) -> Option<SystemTime> {
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: u64,
    }
    let payload = token.split('.').nth(1)?;
    let claims: Exp = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(claims.exp))
}

/// The cache's key: a token is a credential, kept only as its hash.
fn digest(token: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests;
