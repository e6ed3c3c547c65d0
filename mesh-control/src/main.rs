use std::io::IsTerminal;

use clap::Parser;
use mesh_api::model::MeshSettings;
use mesh_control::args::Args;
use mesh_control::config::ConfigHub;
use mesh_control::debug::DebugState;
use mesh_control::file_source::FileSource;
use mesh_control::xds::server::AdsServer;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

/// Gives memory freed after a push back to the OS, where glibc's per-thread arenas
/// kept it (RSS after repeated pushes to 1,000 proxies: see `benches/push.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = EnvFilter::try_new(&args.log).map_err(|e| {
        anyhow::anyhow!(
            "invalid --log filter {:?}: {e}; try `info` or `mesh_control=debug`",
            args.log
        )
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        ?args,
        "starting mesh-control"
    );
    let hub = ConfigHub::new(MeshSettings {
        root_namespace: args.root_namespace.clone(),
        ..MeshSettings::default()
    });
    let mut config = hub.subscribe();
    let source = FileSource {
        dir: args.config_dir.clone(),
        debounce: args.config_debounce,
    };
    source.start(hub)?;
    // The directory's first version is the one every proxy starts from, not a change.
    config.mark_unchanged();

    let ads = AdsServer::start(config.clone(), args.push_debounce);
    let debug = DebugState {
        config: config.clone(),
        registry: ads.registry().clone(),
    };
    let xds_listener = bind(args.xds_address, "--xds-address").await?;
    let debug_listener = bind(args.debug_address, "--debug-address").await?;
    tracing::info!(xds = %args.xds_address, debug = %args.debug_address, "serving");

    // One shutdown signal, fanned out to both servers.
    let (shutdown_tx, shutdown) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await.is_ok();
    };
    let mut xds_task = tokio::spawn(ads.serve(xds_listener, wait(shutdown.clone())));
    let mut debug_task = tokio::spawn(mesh_control::debug::serve(
        debug_listener,
        debug,
        wait(shutdown.clone()),
    ));

    let mut terminate = signal(SignalKind::terminate())?;
    let outcome = loop {
        tokio::select! {
            changed = config.changed() => {
                if changed.is_err() {
                    break Err(anyhow::anyhow!("the config source stopped; see the errors above"));
                }
            }
            served = &mut xds_task => break Err(anyhow::anyhow!("the xDS server stopped: {}", describe(served))),
            served = &mut debug_task => break Err(anyhow::anyhow!("the debug endpoint stopped: {}", describe(served))),
            _ = tokio::signal::ctrl_c() => break Ok(()),
            _ = terminate.recv() => break Ok(()),
        }
    };
    tracing::info!("shutting down");
    shutdown_tx.send_replace(true);
    // Streams are closed by the xDS server; do not wait forever for slow peers.
    let grace = std::time::Duration::from_secs(5);
    let _ = tokio::time::timeout(grace, async {
        if !xds_task.is_finished() {
            let _ = (&mut xds_task).await;
        }
        if !debug_task.is_finished() {
            let _ = (&mut debug_task).await;
        }
    })
    .await;
    outcome
}

async fn bind(address: std::net::SocketAddr, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {address} ({flag}): {e}; pick a free address with {flag}")
    })
}

fn describe<E: std::fmt::Display>(joined: Result<Result<(), E>, tokio::task::JoinError>) -> String {
    match joined {
        Ok(Ok(())) => "it returned".to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    }
}
