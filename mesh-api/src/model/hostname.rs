//! Service hostnames: the names a client may use, and how config hosts resolve to them.

/// The DNS suffix of services, as Kubernetes' default `cluster.local`.
pub const DOMAIN_SUFFIX: &str = "cluster.local";

/// `name.namespace.svc.cluster.local`.
pub fn service_fqdn(name: &str, namespace: &str) -> String {
    format!("{name}.{namespace}.svc.{DOMAIN_SUFFIX}")
}

/// Every name that reaches a Kubernetes-style service from inside its namespace or
/// another: `name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`.
pub fn service_aliases(name: &str, namespace: &str) -> [String; 4] {
    [
        name.to_string(),
        format!("{name}.{namespace}"),
        format!("{name}.{namespace}.svc"),
        service_fqdn(name, namespace),
    ]
}

/// Istio's short-name rule for hosts in config: a name without a dot is a service in
/// the config's own namespace; anything else is taken as written.
pub fn resolve_short_name(host: &str, namespace: &str) -> String {
    if host == "*" || host.contains('.') {
        host.to_string()
    } else {
        service_fqdn(host, namespace)
    }
}

/// Whether `pattern` (a host, `*.suffix` or `*`) covers `host`. A wildcard pattern
/// covers more specific wildcards too (`*.com` covers `*.example.com`).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" || pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            let host = host.strip_prefix('*').unwrap_or(host);
            host.len() > suffix.len()
                && host
                    .to_ascii_lowercase()
                    .ends_with(&suffix.to_ascii_lowercase())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_resolve_in_the_config_namespace() {
        assert_eq!(
            resolve_short_name("reviews", "bookinfo"),
            "reviews.bookinfo.svc.cluster.local"
        );
        assert_eq!(
            resolve_short_name("reviews.other.svc.cluster.local", "x"),
            "reviews.other.svc.cluster.local"
        );
        assert_eq!(resolve_short_name("*", "x"), "*");
    }

    #[test]
    fn wildcards_match_by_suffix() {
        assert!(host_matches("*", "anything.example"));
        assert!(host_matches("*.example.com", "api.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(host_matches("*.com", "*.example.com"));
        assert!(!host_matches("*.example.com", "*.com"));
        assert!(host_matches(
            "Reviews.default.svc.cluster.local",
            "reviews.default.svc.cluster.local"
        ));
        assert!(!host_matches("reviews", "ratings"));
    }
}
