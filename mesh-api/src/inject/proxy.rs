//! The proxy container (`mesh-proxy run`) and its volumes: the projected
//! ServiceAccount token it shows the CA and the mesh's root certificate.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    ExecAction, HTTPGetAction, Lifecycle, LifecycleHandler, ObjectFieldSelector, PodSpec, Probe,
    ProjectedVolumeSource, ResourceRequirements, SecurityContext, ServiceAccountTokenProjection,
    Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::probes::APP_PROBERS_ENV;
use super::settings::PodSettings;
use super::{InjectionConfig, PROXY_CONTAINER, ProxyResources};

/// The projected token (Istio's name) and the root certificate's volume.
pub(super) const TOKEN_VOLUME: &str = "istio-token";
pub(super) const ROOT_CERT_VOLUME: &str = "mesh-ca-root-cert";
pub(super) const VOLUMES: [&str; 2] = [TOKEN_VOLUME, ROOT_CERT_VOLUME];
const TOKEN_DIR: &str = "/var/run/secrets/tokens";
const ROOT_CERT_DIR: &str = "/var/run/secrets/istio";
/// Istio's `/healthz/ready` port.
const HEALTH_PORT: i32 = 15021;

pub(super) fn container(
    config: &InjectionConfig,
    s: &PodSettings,
    meta: &ObjectMeta,
    app_probers: Option<String>,
) -> Container {
    let health = |period, failure_threshold, initial_delay| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz/ready".into()),
            port: IntOrString::Int(HEALTH_PORT),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    };
    let (initial_delay, period, failure_threshold) = s.readiness;
    // The classic form holds the app with a postStart hook that returns once the proxy
    // is ready (Kubernetes starts the next container only after it); the native form
    // needs none: the startupProbe holds the containers after it.
    let lifecycle = (s.hold_application && !s.native_sidecar).then(|| Lifecycle {
        post_start: Some(LifecycleHandler {
            exec: Some(ExecAction {
                command: Some(vec!["mesh-proxy".into(), "wait".into()]),
            }),
            ..LifecycleHandler::default()
        }),
        ..Lifecycle::default()
    });
    Container {
        name: PROXY_CONTAINER.into(),
        image: Some(s.image.clone()),
        image_pull_policy: Some(config.image_pull_policy.clone()),
        args: Some(vec!["run".into()]),
        restart_policy: s.native_sidecar.then(|| "Always".into()),
        ports: Some(vec![ContainerPort {
            container_port: 15090,
            name: Some("http-envoy-prom".into()),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(env(config, s, meta, app_probers)),
        lifecycle,
        // Istio's values: startupProbe every second for up to 600 tries.
        startup_probe: Some(health(1, 600, 0)),
        readiness_probe: Some(health(period, failure_threshold, initial_delay)),
        resources: Some(resources(&s.resources)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: None,
                drop: Some(vec!["ALL".into()]),
            }),
            privileged: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_group: Some(config.proxy_uid),
            run_as_non_root: Some(true),
            run_as_user: Some(config.proxy_uid),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount(ROOT_CERT_VOLUME, ROOT_CERT_DIR),
            mount(TOKEN_VOLUME, TOKEN_DIR),
        ]),
        ..Container::default()
    }
}

/// The sidecar contract of the plan: the downward API first, since the `$(VAR)`
/// references of the later entries resolve only to variables defined before them.
fn env(
    config: &InjectionConfig,
    s: &PodSettings,
    meta: &ObjectMeta,
    app_probers: Option<String>,
) -> Vec<EnvVar> {
    let field = |name: &str, path: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                api_version: None,
            }),
            ..EnvVarSource::default()
        }),
        value: None,
    };
    let value = |name: &str, value: String| EnvVar {
        name: name.into(),
        value: Some(value),
        value_from: None,
    };
    let labels = meta
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut env = vec![
        field("POD_NAME", "metadata.name"),
        field("POD_NAMESPACE", "metadata.namespace"),
        field("INSTANCE_IP", "status.podIP"),
        field("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        value("MESH_WORKLOAD", "$(POD_NAME).$(POD_NAMESPACE)".into()),
        value("MESH_IP", "$(INSTANCE_IP)".into()),
        value("MESH_SERVICE_ACCOUNT", "$(SERVICE_ACCOUNT)".into()),
        value("MESH_LABELS", labels),
        value("MESH_XDS_ADDRESS", config.xds_address.clone()),
        value("MESH_ROOT_CERT", format!("{ROOT_CERT_DIR}/root-cert.pem")),
        value("MESH_TOKEN_FILE", format!("{TOKEN_DIR}/istio-token")),
        value("MESH_TRUST_DOMAIN", config.trust_domain.clone()),
        value("MESH_CLUSTER_DOMAIN", config.cluster_domain.clone()),
        value("MESH_CONCURRENCY", config.concurrency.to_string()),
        value("MESH_DRAIN_DURATION", config.drain_duration.to_string()),
        // mesh-proxy's default keeps the access log off; a level alone would turn it on.
        value("MESH_LOG", format!("{},access=warn", s.log_level)),
    ];
    env.extend(app_probers.map(|p| value(APP_PROBERS_ENV, p)));
    env
}

pub(super) fn resources(r: &ProxyResources) -> ResourceRequirements {
    let list = |m: &BTreeMap<String, String>| {
        (!m.is_empty()).then(|| {
            m.iter()
                .map(|(k, v)| (k.clone(), Quantity(v.clone())))
                .collect()
        })
    };
    ResourceRequirements {
        requests: list(&r.requests),
        limits: list(&r.limits),
        ..ResourceRequirements::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    }
}

/// Adds the token and root certificate volumes (after the pod's own).
pub(super) fn add_volumes(spec: &mut PodSpec, config: &InjectionConfig) {
    let token = Volume {
        name: TOKEN_VOLUME.into(),
        projected: Some(ProjectedVolumeSource {
            sources: Some(vec![VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    audience: Some(config.token_audience.clone()),
                    expiration_seconds: Some(43_200),
                    path: "istio-token".into(),
                }),
                ..VolumeProjection::default()
            }]),
            ..ProjectedVolumeSource::default()
        }),
        ..Volume::default()
    };
    let root = Volume {
        name: ROOT_CERT_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config.root_cert_config_map.clone(),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    };
    spec.volumes
        .get_or_insert_with(Vec::new)
        .extend([token, root]);
}
