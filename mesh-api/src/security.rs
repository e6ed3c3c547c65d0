//! Istio's security kinds, served as `security.mesh.dev/v1alpha1`: PeerAuthentication
//! (mTLS between workloads), AuthorizationPolicy (who may call what) and
//! RequestAuthentication (which JWTs are accepted).
//!
//! Same conventions as [`crate::networking`]: Istio's field names and enum values,
//! `Option` scalars, unknown fields rejected.

mod authorization_policy;
mod peer_authentication;
mod request_authentication;

pub use authorization_policy::{
    AuthorizationAction, AuthorizationPolicy, AuthorizationPolicySpec, Condition,
    ExtensionProvider, Operation, Rule, RuleFrom, RuleTo, Source,
};
pub use peer_authentication::{
    MtlsMode, PeerAuthentication, PeerAuthenticationMtls, PeerAuthenticationSpec,
};
pub use request_authentication::{
    ClaimToHeader, JwtHeader, JwtRule, RequestAuthentication, RequestAuthenticationSpec,
};
