//! The parts of Istio's MeshConfig that analyzers depend on, read from the file given
//! to `--meshConfigFile` (a MeshConfig document, or the `istio` ConfigMap holding one
//! under `data.mesh`), with Istio's defaults otherwise.

use serde_json::Value;

use super::input::{items, string_map};

/// Mesh-wide settings the analyzers read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshConfig {
    /// `rootNamespace`: where selector-less policies apply mesh-wide.
    pub root_namespace: String,
    /// `defaultProviders.accessLogging` is set: Telemetry access logging without
    /// providers uses them.
    pub default_access_log_providers: bool,
    /// `defaultConfig.proxyMetadata` enables DNS capture with address auto-allocation,
    /// so ServiceEntries need no addresses.
    pub addresses_auto_allocated: bool,
    /// `defaultConfig.image.imageType` (`distroless`, …).
    pub image_type: Option<String>,
    /// Names of `extensionProviders` that are Lightstep (deprecated) providers.
    pub lightstep_providers: Vec<String>,
    /// `ingressControllerMode: OFF` drops the assumed ingress gateway.
    pub ingress_controller_off: bool,
}

impl Default for MeshConfig {
    fn default() -> Self {
        MeshConfig {
            // Istio's default: the analyzer reads Istio's mesh config, not mesh-control's.
            root_namespace: "istio-system".to_string(),
            default_access_log_providers: false,
            addresses_auto_allocated: false,
            image_type: None,
            lightstep_providers: Vec::new(),
            ingress_controller_off: false,
        }
    }
}

/// Why a mesh config file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid mesh config: {0}")]
pub struct MeshConfigError(String);

impl MeshConfig {
    /// Reads a MeshConfig, or a ConfigMap with one under `data.mesh`.
    pub fn parse(text: &str) -> Result<MeshConfig, MeshConfigError> {
        let value: Value =
            serde_norway::from_str(text).map_err(|e| MeshConfigError(e.to_string()))?;
        let value = match value["data"]["mesh"].as_str() {
            Some(inner) => {
                serde_norway::from_str(inner).map_err(|e| MeshConfigError(e.to_string()))?
            }
            None => value,
        };
        if !value.is_object() && !value.is_null() {
            return Err(MeshConfigError("expected a mapping".to_string()));
        }
        let mut config = MeshConfig::default();
        if let Some(root) = value["rootNamespace"].as_str().filter(|r| !r.is_empty()) {
            config.root_namespace = root.to_string();
        }
        config.default_access_log_providers =
            !items(&value["defaultProviders"]["accessLogging"]).is_empty();
        let metadata = string_map(&value["defaultConfig"]["proxyMetadata"]);
        let enabled = |key: &str| metadata.get(key).is_some_and(|v| v == "true");
        config.addresses_auto_allocated = enabled("ISTIO_META_DNS_CAPTURE")
            && (enabled("ISTIO_META_DNS_AUTO_ALLOCATE") || enabled("PILOT_ENABLE_IP_AUTOALLOCATE"));
        config.image_type = value["defaultConfig"]["image"]["imageType"]
            .as_str()
            .map(str::to_string);
        config.lightstep_providers = items(&value["extensionProviders"])
            .iter()
            .filter(|p| !p["lightstep"].is_null())
            .filter_map(|p| p["name"].as_str().map(str::to_string))
            .collect();
        config.ingress_controller_off = matches!(
            &value["ingressControllerMode"],
            Value::String(s) if s.eq_ignore_ascii_case("OFF")
        ) || value["ingressControllerMode"] == Value::Bool(false);
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_analyzers_use_from_a_config_map_or_a_mesh_config() {
        let config = MeshConfig::parse(
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  mesh: |\n    rootNamespace: mesh-root\n    defaultConfig:\n      proxyMetadata: {ISTIO_META_DNS_CAPTURE: \"true\", ISTIO_META_DNS_AUTO_ALLOCATE: \"true\"}\n      image: {imageType: distroless}\n    extensionProviders:\n    - {name: ls, lightstep: {address: x}}\n    - {name: otel, opentelemetry: {service: y}}\n",
        )
        .unwrap();
        assert_eq!(config.root_namespace, "mesh-root");
        assert!(config.addresses_auto_allocated);
        assert_eq!(config.image_type.as_deref(), Some("distroless"));
        assert_eq!(config.lightstep_providers, ["ls"]);
        let plain = MeshConfig::parse(
            "defaultProviders: {accessLogging: [envoy]}\ningressControllerMode: \"OFF\"\n",
        )
        .unwrap();
        assert!(plain.default_access_log_providers);
        assert!(plain.ingress_controller_off);
        assert_eq!(plain.root_namespace, "istio-system");
        assert!(MeshConfig::parse("[1, 2]").is_err());
    }
}
