//! `mesh-proxy`: the sidecar data plane of mesh (the Envoy / linkerd2-proxy role).
//!
//! Configuration arrives over ADS ([`xds`], Delta or State of the World, one typed
//! handler per resource type) and is applied as immutable [`config::Snapshot`]s. The
//! data path ([`proxy`]) runs on the [`worker`] threads over any byte stream
//! ([`transport`]), reads the current snapshot per request, routes as Envoy would
//! ([`route`]), balances ([`balance`], [`upstream`]) and records each request
//! ([`stream_info`]) for the [`stats`] and the access log. [`node`] is the xDS node
//! the proxy presents; [`identity`] gets and renews its workload certificate;
//! [`agent`] serves that certificate to a real Envoy over SDS (pilot-agent's role);
//! [`redirect`] installs the pod's capture rules; [`status`] runs the apps' probes
//! that injection rewrote (15020) and [`wait`] holds an app until its proxy is ready.

pub mod admin;
pub mod agent;
pub mod balance;
pub mod config;
pub mod drain;
pub mod identity;
pub mod metrics;
pub mod node;
pub mod outlier;
pub mod proxy;
pub mod redirect;
pub mod route;
pub mod stats;
pub mod status;
pub mod stream_info;
pub mod tls;
pub mod transport;
pub mod upstream;
pub mod wait;
pub mod worker;
pub mod xds;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::admin::{AdminState, LogLevels};
use crate::config::Snapshot;
use crate::drain::Drain;
use crate::identity::IdentityConfig;
use crate::node::NodeMetadata;
use crate::proxy::Shared;
use crate::stats::Stats;
use crate::tls::{TlsContexts, WorkloadTls, WorkloadTlsWatch};

/// Everything `mesh-proxy run` needs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunConfig {
    pub xds_address: String,
    pub node: NodeMetadata,
    pub admin_address: SocketAddr,
    pub health_address: SocketAddr,
    /// `/stats/prometheus` (Istio's 15090).
    pub metrics_address: SocketAddr,
    /// The status port (Istio's 15020): rewritten app probes, `/quitquitquit`.
    pub status_address: SocketAddr,
    /// The app probes the injector rewrote (`MESH_KUBE_APP_PROBERS`), by path.
    pub app_probers: status::AppProbers,
    /// Worker threads, each with its own listeners and connection pools (Envoy's
    /// `--concurrency`).
    pub concurrency: usize,
    /// How long SIGTERM waits for open connections (Istio's terminationDrainDuration).
    #[serde(serialize_with = "seconds")]
    pub drain_duration: Duration,
    /// The workload identity (`--root-cert`): xDS over TLS and a workload
    /// certificate; `None`: plaintext xDS and no identity.
    pub identity: Option<IdentityConfig>,
}

/// Runs the proxy until the process is stopped: at once on SIGINT; on SIGTERM after
/// draining (listeners stop accepting, open connections get up to `drain_duration`).
pub async fn run(config: RunConfig, log_levels: Arc<LogLevels>) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let stats = Arc::new(Stats::default());
    let drain = Drain::new();
    let identity = match &config.identity {
        Some(wanted) => Some(identity::spawn(wanted).context("cannot start the identity")?),
        None => None,
    };
    // Without an identity the watch stays `None`; its sender lives as long as `run`.
    let (_no_identity, no_certificates) = watch::channel(None);
    let certificates = identity
        .as_ref()
        .map_or(no_certificates, |i| i.certificates.clone());
    let tls = Arc::new(TlsContexts::new(workload_tls(certificates.clone())));
    let shared = Shared {
        snapshots: rx,
        stats: stats.clone(),
        drain: drain.clone(),
        tls: tls.clone(),
        certificates,
    };
    let state = AdminState {
        shared: shared.clone(),
        log_levels,
        identity: identity.as_ref().map(|i| i.status.clone()),
    };
    let admin = TcpListener::bind(config.admin_address)
        .await
        .with_context(|| format!("cannot bind the admin address {}", config.admin_address))?;
    let health = TcpListener::bind(config.health_address)
        .await
        .with_context(|| format!("cannot bind the health address {}", config.health_address))?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tracing::info!(node = %config.node.node_id(), xds = %config.xds_address, "starting");
    tokio::spawn(admin::serve_admin(admin, state.clone()));
    tokio::spawn(admin::serve_health(health, state.clone()));
    // Metrics are not worth refusing to proxy for (e.g. two proxies sharing a host).
    match TcpListener::bind(config.metrics_address).await {
        Ok(metrics) => drop(tokio::spawn(admin::serve_metrics(metrics, state))),
        Err(e) => tracing::warn!(
            "cannot bind the metrics address {}: {e}; /stats/prometheus is served on the admin port only (set --metrics-address)",
            config.metrics_address
        ),
    }
    // Like metrics: a second proxy on the host must still proxy; only the rewritten
    // app probes (which need this port) fail, and the warning says why.
    let quit = Arc::new(tokio::sync::Notify::new());
    match TcpListener::bind(config.status_address).await {
        Ok(listener) => {
            let state = status::StatusState {
                probers: Arc::new(config.app_probers.clone()),
                pod_ip: config.node.ip,
                quit: quit.clone(),
            };
            drop(tokio::spawn(status::serve_status(listener, state)));
        }
        Err(e) => tracing::warn!(
            "cannot bind the status address {}: {e}; rewritten app probes and /quitquitquit are not served (set --status-address)",
            config.status_address
        ),
    }
    let mut workers =
        worker::start(config.concurrency, &shared).context("cannot start the worker threads")?;
    let mut node = config.node.node();
    if identity.is_some() {
        announce_sds(&mut node);
    }
    let mut client = xds::XdsClient::new(config.xds_address, node, tx, stats).with_tls(tls);
    if let Some(identity) = &identity {
        client = client.with_credentials(identity.credentials.clone());
    }
    // Config keeps arriving while draining, as Envoy's does.
    let mut client = tokio::spawn(client.run());
    tokio::select! {
        _ = &mut client => Ok(()),
        stopped = workers.recv() => {
            anyhow::bail!("{}", stopped.unwrap_or_else(|| "every worker stopped".into()))
        }
        () = quit.notified() => {
            tracing::info!("/quitquitquit; exiting");
            client.abort();
            Ok(())
        }
        signal = tokio::signal::ctrl_c() => {
            signal.context("cannot listen for signals")?;
            tracing::info!("interrupted; exiting");
            Ok(())
        }
        _ = terminate.recv() => {
            tracing::info!(drain_duration = ?config.drain_duration, "SIGTERM; draining");
            let open = drain.drain(config.drain_duration).await;
            if open > 0 {
                tracing::warn!("{open} connections still open after the drain duration; closing them");
            }
            client.abort();
            Ok(())
        }
    }
}

/// Node metadata `SDS: "true"`, as Istio's agent and `meshctl bootstrap envoy
/// --sds-socket` set it: the translator sends mTLS config only to a proxy that has
/// the `default`/`ROOTCA` secrets to serve it with.
fn announce_sds(node: &mut envoy_types::pb::envoy::config::core::v3::Node) {
    use envoy_types::pb::google::protobuf::{Value, value::Kind};
    let fields = &mut node.metadata.get_or_insert_with(Default::default).fields;
    fields.insert(
        "SDS".to_string(),
        Value {
            kind: Some(Kind::StringValue("true".to_string())),
        },
    );
}

/// The data path's view of the workload certificate: rustls material, built once per
/// certificate (not per handshake); `None` while there is no valid certificate.
fn workload_tls(mut certificates: identity::CertificateWatch) -> WorkloadTlsWatch {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        loop {
            let material = certificates.borrow_and_update().clone().and_then(|cert| {
                let built = WorkloadTls::new(
                    cert.identity.clone(),
                    cert.chain.clone(),
                    cert.key.clone_key(),
                    cert.roots.clone(),
                );
                built
                    .map_err(|e| {
                        tracing::error!("the workload certificate is unusable for TLS: {e}")
                    })
                    .ok()
                    .map(Arc::new)
            });
            tx.send_replace(material);
            if certificates.changed().await.is_err() {
                return;
            }
        }
    });
    rx
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}s", d.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::test_ca::TestCa;

    #[tokio::test]
    async fn the_data_path_follows_the_workload_certificate() {
        let (tx, certificates) = watch::channel(None);
        let mut material = workload_tls(certificates);
        assert!(
            material.borrow().is_none(),
            "nothing before the first certificate"
        );
        let ca = TestCa::new("root");
        let id = mesh_api::identity::SpiffeId::new("cluster.local", "shop", "reviews");
        tx.send_replace(Some(Arc::new(
            ca.workload_certificate(&id, Duration::from_secs(3600)),
        )));
        material.changed().await.expect("published");
        let tls = material.borrow().clone().expect("material");
        assert_eq!(tls.identity, id);
        assert_eq!(tls.root_certificates, vec![ca.root.clone()]);
        tx.send_replace(None);
        material.changed().await.expect("published");
        assert!(
            material.borrow().is_none(),
            "withdrawn with the certificate"
        );
    }
}
