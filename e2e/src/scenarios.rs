//! Scenarios written once against [`Cluster`], run on the local network-namespace
//! cluster (`tests/local_mesh.rs`) and on kind: transparent capture, the protocols a
//! sidecar must pass, and changes under load that must not fail a request.
//!
//! A scenario deploys what it needs into a fresh cluster, panics with what it saw
//! when an outcome is wrong, and returns cluster errors (a pod that did not start) as
//! they are.

use std::time::Duration;

use crate::cluster::{Cluster, ClusterError, Pod, PodSpec, sync};

pub mod capture;
pub mod mtls;
pub mod protocols;
pub mod under_load;

/// The namespace scenarios deploy into.
pub const NAMESPACE: &str = "mesh";

/// Service `web` (HTTP 9080, gRPC 9090, server-first TCP 9000) selecting `app: web`.
pub const WEB_SERVICE: &str = "
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: mesh}
    spec:
      selector: {app: web}
      ports:
      - {name: http, port: 9080}
      - {name: grpc, port: 9090}
      - {name: tcp, port: 9000}
";

/// Subsets v1 and v2 of `web`.
pub const WEB_SUBSETS: &str = "
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: web, namespace: mesh}
    spec:
      host: web
      subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
";

/// How long a config change may take to reach every proxy.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(20);

/// A meshed client pod, `client-0`.
pub async fn client<C: Cluster>(cluster: &mut C) -> Result<Pod, ClusterError> {
    cluster
        .deploy(PodSpec::sample_app(
            "client-0",
            NAMESPACE,
            "client",
            "v1",
            &[],
        ))
        .await
}

/// A meshed `web` pod of `version` named `name`, returned once every proxy knows it
/// as an endpoint.
pub async fn web<C: Cluster>(
    cluster: &mut C,
    name: &str,
    version: &str,
) -> Result<Pod, ClusterError> {
    let spec = PodSpec::sample_app(name, NAMESPACE, "web", version, &[]).service_account("web");
    deploy_synced(cluster, spec).await
}

/// Deploys `spec` and waits until every proxy has the config that has it as an
/// endpoint: a pod that is ready is not yet known to its clients.
pub async fn deploy_synced<C: Cluster>(
    cluster: &mut C,
    spec: PodSpec,
) -> Result<Pod, ClusterError> {
    let before = sync::config_version(cluster).await?;
    let pod = cluster.deploy(spec).await?;
    sync::wait_synced(cluster, before, PUSH_TIMEOUT).await?;
    Ok(pod)
}

/// Applies `yaml` as `file` and waits until every proxy has ACKed it.
pub async fn apply_synced<C: Cluster>(
    cluster: &mut C,
    file: &str,
    yaml: &str,
) -> Result<(), ClusterError> {
    let before = sync::config_version(cluster).await?;
    cluster.apply(file, yaml).await?;
    sync::wait_synced(cluster, before, PUSH_TIMEOUT).await?;
    Ok(())
}

/// A counter from a proxy's `/stats` (`name: value` lines); 0 when absent, as Envoy
/// omits counters it never touched.
pub async fn proxy_counter<C: Cluster>(
    cluster: &C,
    pod: &Pod,
    name: &str,
) -> Result<u64, ClusterError> {
    let stats = cluster.proxy_admin(pod, "/stats").await?;
    Ok(counter(&stats, name))
}

fn counter(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .filter_map(|l| l.split_once(": "))
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// `VirtualService web` sending `v1_weight`% to v1 and the rest to v2.
pub fn web_split(v1_weight: u32) -> String {
    format!(
        "
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: web, namespace: mesh}}
        spec:
          hosts: [web]
          http:
          - route:
            - destination: {{host: web, subset: v1}}
              weight: {v1_weight}
            - destination: {{host: web, subset: v2}}
              weight: {}
        ",
        100 - v1_weight.min(100)
    )
}

/// One `#[tokio::test]` per scenario, each run on a cluster from `$cluster` (an async
/// fn returning `Option<impl Cluster>`; `None` skips, saying why): the local and the
/// kind suites list the scenarios they share this way, so each is written once.
#[macro_export]
macro_rules! scenario_tests {
    ($cluster:ident; $($test:ident => $scenario:path;)+) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let Some(mut cluster) = $cluster().await else {
                return;
            };
            if let Err(error) = $scenario(&mut cluster).await {
                panic!("{}: {error}", stringify!($test));
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_exact_name() {
        let stats = "http.inbound_0.0.0.0_9080.downstream_rq_total: 7\n\
                     http.inbound_0.0.0.0_9080.downstream_rq_total_x: 9\n";
        assert_eq!(
            counter(stats, "http.inbound_0.0.0.0_9080.downstream_rq_total"),
            7
        );
        assert_eq!(counter(stats, "absent"), 0);
    }

    #[test]
    fn split_weights_add_up_to_100() {
        let yaml = web_split(80);
        assert!(
            yaml.contains("weight: 80") && yaml.contains("weight: 20"),
            "{yaml}"
        );
    }
}
