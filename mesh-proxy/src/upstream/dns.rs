//! DNS clusters' endpoints: the hosts resolved every refresh interval in the
//! background; a change wakes the xDS client, which publishes a new snapshot with
//! them (snapshots stay immutable).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::{DnsTarget, Endpoint};

/// The current addresses of a DNS cluster.
#[derive(Debug, Default)]
pub(super) struct DnsEndpoints {
    endpoints: Mutex<Vec<Endpoint>>,
}

impl DnsEndpoints {
    /// Starts resolving `targets` every `refresh`, for as long as the cluster lives.
    pub(super) fn start(
        targets: Vec<DnsTarget>,
        refresh: Duration,
        logical: bool,
        changed: Arc<Notify>,
    ) -> Arc<DnsEndpoints> {
        let this = Arc::new(DnsEndpoints::default());
        tokio::spawn(refresh_loop(
            Arc::downgrade(&this),
            targets,
            refresh,
            logical,
            changed,
        ));
        this
    }

    pub(super) fn current(&self) -> Vec<Endpoint> {
        self.endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn refresh_loop(
    this: Weak<DnsEndpoints>,
    targets: Vec<DnsTarget>,
    refresh: Duration,
    logical: bool,
    changed: Arc<Notify>,
) {
    loop {
        let resolved = resolve(&targets, logical).await;
        let Some(dns) = this.upgrade() else {
            return;
        };
        {
            let mut current = dns.endpoints.lock().unwrap_or_else(PoisonError::into_inner);
            // A failed lookup keeps the last addresses, as Envoy does.
            if !resolved.is_empty() && *current != resolved {
                tracing::debug!(
                    hosts = ?targets.iter().map(|t| &t.host).collect::<Vec<_>>(),
                    addresses = resolved.len(),
                    "DNS cluster resolved"
                );
                *current = resolved;
                changed.notify_one();
            }
        }
        drop(dns);
        tokio::time::sleep(refresh).await;
    }
}

/// Every target's IPv4 addresses (LOGICAL_DNS: the first of the first host only).
async fn resolve(targets: &[DnsTarget], logical: bool) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for t in targets {
        let addresses: Vec<SocketAddr> =
            match tokio::net::lookup_host((t.host.as_str(), t.port)).await {
                Ok(a) => a.filter(SocketAddr::is_ipv4).collect(),
                Err(e) => {
                    tracing::warn!(host = %t.host, "DNS lookup failed: {e}");
                    continue;
                }
            };
        for address in addresses {
            if !out.iter().any(|e| e.address == address) {
                out.push(Endpoint {
                    address,
                    weight: t.weight,
                    healthy: true,
                    // A DNS host carries no metadata: the cluster's own transport socket.
                    transport_socket_labels: Default::default(),
                });
            }
            if logical {
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16, weight: u32) -> DnsTarget {
        DnsTarget {
            host: host.into(),
            port,
            weight,
        }
    }

    #[tokio::test]
    async fn hosts_and_literal_addresses_resolve_to_ipv4_endpoints() {
        let targets = vec![target("localhost", 8080, 3), target("127.0.0.9", 80, 1)];
        let all = resolve(&targets, false).await;
        assert!(
            all.iter()
                .any(|e| e.address.to_string() == "127.0.0.1:8080" && e.weight == 3),
            "{all:?}"
        );
        assert!(
            all.iter().any(|e| e.address.to_string() == "127.0.0.9:80"),
            "{all:?}"
        );
        assert_eq!(
            resolve(&targets, true).await.len(),
            1,
            "LOGICAL_DNS: one address"
        );
        let unknown = vec![target("no-such-host.invalid", 80, 1)];
        assert!(resolve(&unknown, false).await.is_empty());
    }

    #[tokio::test]
    async fn a_change_is_announced_and_the_task_ends_with_the_cluster() {
        let changed = Arc::new(Notify::new());
        let notified = changed.notified();
        let dns = DnsEndpoints::start(
            vec![target("127.0.0.9", 80, 1)],
            Duration::from_millis(100),
            false,
            changed.clone(),
        );
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .expect("announced");
        assert_eq!(dns.current().len(), 1);
        let weak = Arc::downgrade(&dns);
        drop(dns);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(weak.upgrade().is_none());
    }
}
