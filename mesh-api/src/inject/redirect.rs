//! The `mesh-redirect` init container: `mesh-proxy redirect` (Istio's
//! `istio-iptables`) with the pod's traffic annotations as flags.

use k8s_openapi::api::core::v1::{Capabilities, Container, SecurityContext};

use super::settings::PodSettings;
use super::{InjectionConfig, REDIRECT_CONTAINER, proxy};

/// Flags in Istio's order. The proxy's own ports (15000, 15001, 15006, 15020, 15021,
/// 15090) are always exempt in `mesh-proxy redirect`, so `--exclude-inbound-ports`
/// carries only the pod's own exclusions (Istio passes `15090,15021,15020,...`).
pub(super) fn container(config: &InjectionConfig, s: &PodSettings) -> Container {
    let mut args: Vec<String> = vec!["redirect".into()];
    let mut flag = |name: &str, value: &str| {
        args.push(format!("--{name}"));
        args.push(value.into());
    };
    flag("proxy-uid", &config.proxy_uid.to_string());
    flag("inbound-ports", &s.include_inbound_ports);
    flag("exclude-inbound-ports", &s.exclude_inbound_ports);
    flag("outbound-ip-ranges", &s.include_outbound_ip_ranges);
    flag("exclude-outbound-ip-ranges", &s.exclude_outbound_ip_ranges);
    if !s.include_outbound_ports.is_empty() {
        flag("outbound-ports", &s.include_outbound_ports);
    }
    if !s.exclude_outbound_ports.is_empty() {
        flag("exclude-outbound-ports", &s.exclude_outbound_ports);
    }
    Container {
        name: REDIRECT_CONTAINER.into(),
        image: Some(s.image.clone()),
        image_pull_policy: Some(config.image_pull_policy.clone()),
        args: Some(args),
        resources: Some(proxy::resources(&s.resources)),
        // iptables needs root and these two capabilities; nothing else.
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            privileged: Some(false),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
                drop: Some(vec!["ALL".into()]),
            }),
            read_only_root_filesystem: Some(false),
            run_as_group: Some(0),
            run_as_non_root: Some(false),
            run_as_user: Some(0),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}
