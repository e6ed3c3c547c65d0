//! `mesh-proxy`: the sidecar data plane of mesh (the Envoy / linkerd2-proxy role).
//!
//! Configuration arrives over Delta ADS ([`xds`]) and is applied as immutable
//! [`config::Snapshot`]s; the data path ([`proxy`]) reads the current snapshot per
//! request and routes as Envoy would ([`route`]).

pub mod admin;
pub mod balance;
pub mod config;
pub mod identity;
pub mod outlier;
pub mod proxy;
pub mod route;
pub mod stats;
pub mod upstream;
pub mod xds;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Snapshot;
use crate::identity::ProxyIdentity;
use crate::proxy::Shared;
use crate::stats::Stats;

/// Everything `mesh-proxy run` needs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunConfig {
    pub xds_address: String,
    pub identity: ProxyIdentity,
    pub admin_address: SocketAddr,
    pub health_address: SocketAddr,
}

/// Runs the proxy until the process is stopped.
pub async fn run(config: RunConfig) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
    let stats = Arc::new(Stats::default());
    let shared = Shared {
        snapshots: rx,
        stats: stats.clone(),
    };
    let admin = TcpListener::bind(config.admin_address)
        .await
        .with_context(|| format!("cannot bind the admin address {}", config.admin_address))?;
    let health = TcpListener::bind(config.health_address)
        .await
        .with_context(|| format!("cannot bind the health address {}", config.health_address))?;
    tracing::info!(node = %config.identity.node_id(), xds = %config.xds_address, "starting");
    tokio::spawn(admin::serve_admin(admin, shared.clone()));
    tokio::spawn(admin::serve_health(health, shared.clone()));
    tokio::spawn(proxy::listeners::run(shared));
    let client = xds::XdsClient::new(config.xds_address, config.identity.node(), tx, stats);
    tokio::select! {
        () = client.run() => Ok(()),
        signal = tokio::signal::ctrl_c() => {
            signal.context("cannot listen for signals")?;
            tracing::info!("interrupted; exiting");
            Ok(())
        }
    }
}
