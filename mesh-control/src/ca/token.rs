//! Workload tokens (Kuma's dataplane tokens are the precedent): a JWT, ES256, that
//! the control plane signs and a proxy presents as `authorization: Bearer <token>` to
//! get its first certificate in universal mode. It names one workload and the
//! identity it may have. Pure: keys and the clock are passed in.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mesh_api::identity::SpiffeId;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};

use super::clock::{unix, utc};

/// The issuer and the audience of every workload token.
pub const TOKEN_ISSUER: &str = "mesh-control";

/// Clock differences tolerated on `exp` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(5);

/// The key that signs and verifies workload tokens (ECDSA P-256).
pub struct TokenKey {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

/// What a token grants: one workload, one identity, for a while.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub identity: SpiffeId,
    /// `NAME.NAMESPACE`, the pod (or WorkloadEntry) name and its namespace.
    pub workload: String,
    pub ttl: Duration,
}

/// A verified token: who the bearer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadToken {
    pub identity: SpiffeId,
    /// `NAME.NAMESPACE`.
    pub workload: String,
    pub expires: SystemTime,
    /// The token's `jti`.
    pub id: String,
}

/// Why a token was refused. Each says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the workload token is malformed: {0}; create one with `meshctl token create`")]
    Malformed(String),
    #[error("the workload token is signed with {0:?}; mesh-control signs ES256 tokens only")]
    UnsupportedAlgorithm(String),
    #[error(
        "the workload token's signature does not verify: it was changed or signed by another \
         key; create a new one with `meshctl token create`"
    )]
    BadSignature,
    #[error(
        "the workload token expired at {expired}; create a new one with `meshctl token create`"
    )]
    Expired { expired: String },
    #[error("the workload token is issued in the future ({issued}); check the clocks")]
    IssuedInTheFuture { issued: String },
    #[error("the workload token's issuer is {0:?}, not \"mesh-control\"")]
    WrongIssuer(String),
    #[error("the workload token's audience is {0:?}, which does not include \"mesh-control\"")]
    WrongAudience(Vec<String>),
    #[error("the workload token's subject is not a workload identity: {0}")]
    BadSubject(String),
    #[error(
        "the workload token's workload {workload:?} is not NAME.NAMESPACE in the subject's \
         namespace {namespace:?}"
    )]
    BadWorkload { workload: String, namespace: String },
    #[error("cannot sign the workload token: {0}")]
    Signing(String),
}

/// Why a token key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ECDSA P-256 PKCS#8 key: {0}")]
pub struct TokenKeyError(pub String);

/// The claims, as the JWT payload holds them.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    #[serde(deserialize_with = "one_or_many")]
    aud: Vec<String>,
    sub: String,
    workload: String,
    iat: u64,
    exp: u64,
    jti: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

impl TokenKey {
    /// A new random key, and its PKCS#8 DER to keep.
    pub fn generate() -> Result<(TokenKey, Vec<u8>), TokenKeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| TokenKeyError(e.to_string()))?;
        let der = pkcs8.as_ref().to_vec();
        Ok((TokenKey::from_pkcs8(&der)?, der))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<TokenKey, TokenKeyError> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| TokenKeyError(e.to_string()))?;
        Ok(TokenKey { key, rng })
    }

    /// Signs a token for `grant`, issued at `now`.
    pub fn issue(&self, grant: &TokenGrant, now: SystemTime) -> Result<String, TokenError> {
        let iat = unix(now);
        let mut id = [0u8; 16];
        self.rng
            .fill(&mut id)
            .map_err(|_| TokenError::Signing("no randomness for the token id".into()))?;
        let claims = Claims {
            iss: TOKEN_ISSUER.to_string(),
            aud: vec![TOKEN_ISSUER.to_string()],
            sub: grant.identity.to_string(),
            workload: grant.workload.clone(),
            iat,
            exp: iat.saturating_add(grant.ttl.as_secs()),
            jti: hex(&id),
        };
        let header = Header {
            alg: "ES256".into(),
            typ: Some("JWT".into()),
        };
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(json(&header)?),
            URL_SAFE_NO_PAD.encode(json(&claims)?)
        );
        let signature = self
            .key
            .sign(&self.rng, signed.as_bytes())
            .map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// Checks the signature, issuer, audience and times, in that order, and says who
    /// the bearer is.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<WorkloadToken, TokenError> {
        let malformed = |what: &str| TokenError::Malformed(what.to_string());
        let mut parts = token.trim().split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("a JWT has three dot-separated parts"));
        };
        let decode = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|e| TokenError::Malformed(format!("its {what} is not base64url: {e}")))
        };
        let parsed: Header = serde_json::from_slice(&decode(header, "header")?)
            .map_err(|e| TokenError::Malformed(format!("its header: {e}")))?;
        if parsed.alg != "ES256" {
            return Err(TokenError::UnsupportedAlgorithm(parsed.alg));
        }
        let signature = decode(signature, "signature")?;
        let signed = &token.trim()[..header.len() + 1 + payload.len()];
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref())
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
            .map_err(|e| TokenError::Malformed(format!("its claims: {e}")))?;
        check(claims, now)
    }
}

/// The claims' meaning, once the signature holds.
fn check(claims: Claims, now: SystemTime) -> Result<WorkloadToken, TokenError> {
    if claims.iss != TOKEN_ISSUER {
        return Err(TokenError::WrongIssuer(claims.iss));
    }
    if !claims.aud.iter().any(|a| a == TOKEN_ISSUER) {
        return Err(TokenError::WrongAudience(claims.aud));
    }
    let now_secs = unix(now);
    let leeway = LEEWAY.as_secs();
    // Expired when `exp` is past, by more than the leeway.
    if now_secs > claims.exp.saturating_add(leeway) {
        return Err(TokenError::Expired {
            expired: utc(from_unix(claims.exp)),
        });
    }
    if claims.iat > now_secs.saturating_add(leeway) {
        return Err(TokenError::IssuedInTheFuture {
            issued: utc(from_unix(claims.iat)),
        });
    }
    let identity: SpiffeId = claims
        .sub
        .parse()
        .map_err(|e: mesh_api::identity::SpiffeIdError| TokenError::BadSubject(e.to_string()))?;
    match claims.workload.rsplit_once('.') {
        Some((name, namespace)) if !name.is_empty() && namespace == identity.namespace => {}
        _ => {
            return Err(TokenError::BadWorkload {
                workload: claims.workload,
                namespace: identity.namespace,
            });
        }
    }
    Ok(WorkloadToken {
        identity,
        workload: claims.workload,
        expires: from_unix(claims.exp),
        id: claims.jti,
    })
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("TokenKey").finish_non_exhaustive()
    }
}

fn json(value: &impl Serialize) -> Result<Vec<u8>, TokenError> {
    serde_json::to_vec(value).map_err(|e| TokenError::Signing(e.to_string()))
}

/// `aud` may be one string or a list (RFC 7519 §4.1.3).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn from_unix(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
