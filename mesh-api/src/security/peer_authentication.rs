//! PeerAuthentication: whether workloads accept plain text, mutual TLS or both.

use std::collections::BTreeMap;
use std::fmt;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::selector::WorkloadSelector;

/// The mutual TLS mode of the selected workloads (the namespace's, or the mesh's in the
/// root namespace, when `selector` is unset), optionally per port.
#[derive(
    CustomResource, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
)]
#[kube(
    group = "security.mesh.dev",
    version = "v1alpha1",
    kind = "PeerAuthentication",
    plural = "peerauthentications",
    singular = "peerauthentication",
    namespaced,
    shortname = "pa",
    category = "mesh-dev",
    category = "security-mesh-dev",
    derive = "PartialEq",
    doc = "A PeerAuthentication (Istio's `security.istio.io` kind, served as `security.mesh.dev/v1alpha1`).",
    printcolumn = r#"{"name":"Mode","type":"string","description":"Defines the mTLS mode used for peer authentication.","jsonPath":".spec.mtls.mode"}"#,
    printcolumn = r#"{"name":"Age","type":"date","description":"Time since the object was created","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthenticationSpec {
    /// Workloads the policy applies to; all in its namespace when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<WorkloadSelector>,
    /// mTLS settings for the workloads; inherited from the parent scope when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<PeerAuthenticationMtls>,
    /// mTLS settings by workload port number (requires `selector`).
    #[serde(
        default,
        deserialize_with = "deserialize_port_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    #[schemars(with = "BTreeMap<String, PeerAuthenticationMtls>")]
    pub port_level_mtls: BTreeMap<u32, PeerAuthenticationMtls>,
}

/// Mutual TLS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerAuthenticationMtls {
    /// The mode; UNSET inherits from the parent scope (PERMISSIVE at the top).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<MtlsMode>,
}

/// Mutual TLS mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent scope.
    Unset,
    /// Plain text only.
    Disable,
    /// Plain text and mutual TLS both accepted.
    Permissive,
    /// Mutual TLS only.
    Strict,
}

impl MtlsMode {
    /// The mode when neither the workload, its namespace nor the mesh sets one.
    pub const ISTIO_DEFAULT: MtlsMode = MtlsMode::Permissive;
}

/// Reads `portLevelMtls`, whose keys are port numbers written as strings (JSON) or
/// integers (YAML).
fn deserialize_port_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<u32, PeerAuthenticationMtls>, D::Error> {
    let by_key = BTreeMap::<PortKey, PeerAuthenticationMtls>::deserialize(deserializer)?;
    Ok(by_key
        .into_iter()
        .map(|(PortKey(port), mtls)| (port, mtls))
        .collect())
}

/// A port number used as a map key.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct PortKey(u32);

impl<'de> Deserialize<'de> for PortKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortKeyVisitor;

        impl PortKeyVisitor {
            fn check<E: de::Error>(port: u64, written: &dyn fmt::Display) -> Result<PortKey, E> {
                match u32::try_from(port) {
                    Ok(p @ 1..=65535) => Ok(PortKey(p)),
                    _ => Err(E::custom(format_args!(
                        "portLevelMtls key {written} is not a port number (1-65535)"
                    ))),
                }
            }
        }

        impl Visitor<'_> for PortKeyVisitor {
            type Value = PortKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number (1-65535)")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortKey, E> {
                Self::check(v, &v)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortKey, E> {
                Self::check(u64::try_from(v).unwrap_or(0), &v)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortKey, E> {
                let written = format!("{v:?}");
                Self::check(v.parse().unwrap_or(0), &written)
            }
        }

        deserializer.deserialize_any(PortKeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_level_mtls_keys_are_ports_in_json_and_yaml() {
        let yaml = "selector: {matchLabels: {app: db}}\nportLevelMtls:\n  5432: {mode: DISABLE}\n  '8080': {mode: STRICT}\n";
        let spec: PeerAuthenticationSpec = serde_norway::from_str(yaml).unwrap();
        assert_eq!(spec.port_level_mtls[&5432].mode, Some(MtlsMode::Disable));
        assert_eq!(spec.port_level_mtls[&8080].mode, Some(MtlsMode::Strict));
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["portLevelMtls"]["5432"]["mode"], "DISABLE");
        let back: PeerAuthenticationSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn port_level_mtls_rejects_non_ports() {
        for yaml in [
            "portLevelMtls: {http: {mode: STRICT}}",
            "portLevelMtls: {70000: {}}",
        ] {
            let err = serde_norway::from_str::<PeerAuthenticationSpec>(yaml).unwrap_err();
            assert!(
                err.to_string().contains("is not a port number"),
                "{yaml}: {err}"
            );
        }
    }
}
