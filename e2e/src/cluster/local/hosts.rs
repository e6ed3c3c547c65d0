//! Name resolution in a pod without a DNS server: `/etc/hosts` as Kubernetes DNS
//! would answer (`name`, `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local` → the
//! Service's VIP, or the selected pods' IPs for a headless Service), and a
//! `resolv.conf` whose nameserver refuses at once, so unknown names fail fast
//! instead of leaking to the host's resolver.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::cluster::PodRef;
use crate::cluster::manifest::{ClusterIp, ServiceRecord};

/// A pod as headless Services see it.
#[derive(Debug, Clone, Copy)]
pub(super) struct PodEndpoint<'a> {
    pub(super) namespace: &'a str,
    pub(super) labels: &'a BTreeMap<String, String>,
    pub(super) ip: Ipv4Addr,
}

/// The hosts file of `pod` (address `ip`).
pub(super) fn hosts_file<'a>(
    pod: &PodRef,
    ip: Ipv4Addr,
    services: impl IntoIterator<Item = &'a ServiceRecord>,
    pods: &[PodEndpoint<'_>],
) -> String {
    let mut text = String::from(
        "# Written by mesh's LocalCluster: Kubernetes DNS as a hosts file.\n\
         127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    let _ = writeln!(text, "{ip}\t{}", pod.name);
    for service in services {
        let names = service.hostnames(&pod.namespace).join(" ");
        match service.cluster_ip {
            ClusterIp::Vip(vip) => {
                let _ = writeln!(text, "{vip}\t{names}");
            }
            ClusterIp::Headless => {
                for endpoint in pods
                    .iter()
                    .filter(|p| service.selects(p.namespace, p.labels))
                {
                    let _ = writeln!(text, "{}\t{names}", endpoint.ip);
                }
            }
        }
    }
    text
}

/// `resolv.conf` for a pod of `namespace`: Kubernetes' search path, and a nameserver
/// (the bridge) where nothing listens.
pub(super) fn resolv_conf(namespace: &str, nameserver: Ipv4Addr) -> String {
    format!(
        "nameserver {nameserver}\n\
         search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n\
         options ndots:5 timeout:1 attempts:1\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, cluster_ip: ClusterIp) -> ServiceRecord {
        ServiceRecord {
            name: name.to_string(),
            namespace: "demo".to_string(),
            cluster_ip,
            selector: BTreeMap::from([("app".to_string(), name.to_string())]),
        }
    }

    #[test]
    fn vip_services_and_headless_endpoints_are_listed_with_all_their_names() {
        let web = service("web", ClusterIp::Vip(Ipv4Addr::new(10, 96, 0, 10)));
        let db = service("db", ClusterIp::Headless);
        let db_labels = BTreeMap::from([("app".to_string(), "db".to_string())]);
        let other = BTreeMap::new();
        let pods = [
            PodEndpoint {
                namespace: "demo",
                labels: &db_labels,
                ip: Ipv4Addr::new(10, 77, 1, 2),
            },
            PodEndpoint {
                namespace: "demo",
                labels: &other,
                ip: Ipv4Addr::new(10, 77, 1, 3),
            },
        ];
        let hosts = hosts_file(
            &PodRef::new("a", "demo"),
            Ipv4Addr::new(10, 77, 1, 1),
            [&web, &db],
            &pods,
        );
        assert!(hosts.contains("10.77.1.1\ta\n"), "{hosts}");
        assert!(
            hosts.contains("10.96.0.10\tweb web.demo web.demo.svc web.demo.svc.cluster.local\n"),
            "{hosts}"
        );
        assert!(hosts.contains("10.77.1.2\tdb db.demo"), "{hosts}");
        assert!(!hosts.contains("10.77.1.3"), "{hosts}");

        let elsewhere = hosts_file(
            &PodRef::new("b", "other"),
            Ipv4Addr::new(10, 77, 1, 9),
            [&web],
            &[],
        );
        assert!(
            elsewhere.contains("10.96.0.10\tweb.demo web.demo.svc"),
            "{elsewhere}"
        );
    }
}
