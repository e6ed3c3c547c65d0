use clap::Parser;
use mesh_api::model::MeshSettings;
use mesh_control::args::Args;
use mesh_control::file_source::FileSource;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&args.log).unwrap_or_else(|_| EnvFilter::new("info")))
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
    loop {
        tokio::select! {
            changed = config.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the config source stopped; see the errors above");
                }
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("shutting down");
                return Ok(());
            }
        }
    }
}
