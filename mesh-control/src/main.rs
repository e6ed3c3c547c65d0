use std::io::IsTerminal;

use clap::Parser;
use mesh_api::model::MeshSettings;
use mesh_control::args::Args;
use mesh_control::file_source::FileSource;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

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
    let source = FileSource {
        dir: args.config_dir.clone(),
        settings: MeshSettings {
            root_namespace: args.root_namespace.clone(),
        },
        debounce: args.config_debounce,
    };
    let mut config = source.start()?;
    let mut terminate = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            changed = config.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the config source stopped; see the errors above");
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
        }
    }
    tracing::info!("shutting down");
    Ok(())
}
