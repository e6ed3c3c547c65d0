use std::io::IsTerminal;

use std::sync::Arc;

use clap::Parser;
use mesh_api::inject::{InjectionConfig, KubernetesVersion};
use mesh_api::model::MeshSettings;
use mesh_control::args::Args;
use mesh_control::ca::auth::Authenticator;
use mesh_control::ca::host_addresses::serving_names;
use mesh_control::ca::kube::{self as kube_ca, KubeCaConfig, NamespaceScope, TokenReviewer};
use mesh_control::ca::tls::{self, SERVING_CERT_TTL, ServingCertificate};
use mesh_control::ca::{CaConfig, CertificateAuthority, CertificateService, LifetimePolicy};
use mesh_control::config::ConfigHub;
use mesh_control::debug::{DebugState, IdentityEndpoints};
use mesh_control::file_source::FileSource;
use mesh_control::kube_client::{self, KubeClientOptions};
use mesh_control::kube_source::{KubeSource, WatchScope};
use mesh_control::webhook::{self, Webhooks};
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
    let kube = if args.kubernetes {
        Some(
            kube_client::connect(&KubeClientOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: args.kube_context.clone(),
            })
            .await?,
        )
    } else {
        None
    };
    let ca = open_ca(&args, kube.as_ref()).await?;
    let admin_token = match &args.admin_token_file {
        Some(file) => Some(IdentityEndpoints::read_admin_token(file)?),
        None => None,
    };
    let hub = ConfigHub::new(MeshSettings {
        root_namespace: args.root_namespace.clone(),
        // The translator's SAN checks and the CA's certificates name one trust domain.
        trust_domain: args.trust_domain.clone(),
    });
    let mut config = hub.subscribe();
    start_sources(&args, kube.clone(), hub).await?;
    // The sources' first version is the one every proxy starts from, not a change.
    config.mark_unchanged();

    let ads = AdsServer::start(config.clone(), args.push_debounce);
    let debug = DebugState {
        config: config.clone(),
        registry: ads.registry().clone(),
    };
    let mut auth = Authenticator::new(ca.clone());
    if let Some(client) = &kube {
        // Pods prove themselves with their projected ServiceAccount token.
        let reviewer = TokenReviewer::new(client.clone(), vec![args.token_audience.clone()]);
        auth = auth.with_token_reviewer(Arc::new(reviewer));
        let scope = if args.watch_namespaces.is_empty() {
            NamespaceScope::All
        } else {
            NamespaceScope::Only(args.watch_namespaces.iter().cloned().collect())
        };
        // The bundle is fixed while the process runs (CA files and Secrets are read
        // at start): the sender may go.
        let (_, roots) = watch::channel(ca.authority().bundle().pem());
        tokio::spawn(kube_ca::publish_roots(client.clone(), roots, scope));
    }
    let certificates = CertificateService::new(auth.clone());
    let serving = Arc::new(
        ServingCertificate::issue(
            &ca,
            serving_names(args.xds_tls_address, &args.tls_san, &args.namespace),
            SERVING_CERT_TTL,
        )
        .map_err(|e| anyhow::anyhow!("cannot issue the serving certificate: {e}"))?,
    );
    let tls_config = tls::server_config(&ca, serving.clone())?;
    tokio::spawn(serving.clone().renew(ca.clone()));
    let webhook_listener = match &kube {
        Some(client) => {
            tokio::spawn(webhook::ca_bundle::keep_current(
                client.clone(),
                Some(args.injector_webhook_config.clone()).filter(|n| !n.is_empty()),
                Some(args.validation_webhook_config.clone()).filter(|n| !n.is_empty()),
                ca.authority().bundle().pem(),
            ));
            Some(bind(args.webhook_address, "--webhook-address").await?)
        }
        None => None,
    };

    let xds_listener = bind(args.xds_address, "--xds-address").await?;
    let tls_listener = bind(args.xds_tls_address, "--xds-tls-address").await?;
    let debug_listener = bind(args.debug_address, "--debug-address").await?;
    tracing::info!(
        xds = %args.xds_address,
        xds_tls = %args.xds_tls_address,
        debug = %args.debug_address,
        "serving"
    );

    // One shutdown signal, fanned out to both servers.
    let (shutdown_tx, shutdown) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await.is_ok();
    };
    let mut xds_task = tokio::spawn(ads.clone().serve_incoming(
        ads.service(),
        Some(certificates.clone()),
        tonic::transport::server::TcpIncoming::from(xds_listener),
        wait(shutdown.clone()),
    ));
    let mut tls_task = tokio::spawn(ads.clone().serve_incoming(
        ads.authenticated_service(auth),
        Some(certificates),
        tls::incoming(tls_listener, tls_config),
        wait(shutdown.clone()),
    ));
    let mut debug_task = tokio::spawn(mesh_control::debug::serve_with_identity(
        debug_listener,
        debug,
        Some(IdentityEndpoints::new(ca, admin_token)),
        wait(shutdown.clone()),
    ));

    if let (Some(listener), Some(client)) = (webhook_listener, &kube) {
        let webhooks = Webhooks::new(
            injection_config(&args)?,
            kubernetes_version(client).await,
            config.clone(),
        );
        tracing::info!(address = %args.webhook_address, "serving the admission webhooks");
        tokio::spawn(webhook::server::serve(
            listener,
            webhook::server::tls_config(serving.clone())?,
            Arc::new(webhooks),
            wait(shutdown.clone()),
        ));
    }

    let mut terminate = signal(SignalKind::terminate())?;
    let outcome = loop {
        tokio::select! {
            changed = config.changed() => {
                if changed.is_err() {
                    break Err(anyhow::anyhow!("the config source stopped; see the errors above"));
                }
            }
            served = &mut xds_task => break Err(anyhow::anyhow!("the xDS server stopped: {}", describe(served))),
            served = &mut tls_task => break Err(anyhow::anyhow!("the xDS TLS server stopped: {}", describe(served))),
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
        if !tls_task.is_finished() {
            let _ = (&mut tls_task).await;
        }
        if !debug_task.is_finished() {
            let _ = (&mut debug_task).await;
        }
    })
    .await;
    outcome
}

/// Starts the config sources and returns once each has loaded its first version
/// (proxies are served only after: never half a config).
async fn start_sources(
    args: &Args,
    kube: Option<kube::Client>,
    hub: Arc<ConfigHub>,
) -> anyhow::Result<()> {
    if args.config_dir.is_none() && !args.kubernetes {
        anyhow::bail!(
            "no config source: pass --config-dir DIR (universal mode) or --kubernetes (read \
             the config from the Kubernetes API)"
        );
    }
    if let Some(dir) = &args.config_dir {
        FileSource {
            dir: dir.clone(),
            debounce: args.config_debounce,
        }
        .start(hub.clone())?;
    }
    if let Some(client) = kube {
        let scope = if args.watch_namespaces.is_empty() {
            WatchScope::All
        } else {
            WatchScope::Namespaces(args.watch_namespaces.clone())
        };
        tracing::info!(?scope, "listing the Kubernetes API");
        KubeSource {
            client,
            scope,
            debounce: args.config_debounce,
        }
        .start(hub)
        .await?;
    }
    Ok(())
}

/// The CA: in Kubernetes mode from the Secrets of the control plane's namespace
/// (created once, under a Lease); else from --ca-dir, created there on first start.
async fn open_ca(
    args: &Args,
    kube: Option<&kube::Client>,
) -> anyhow::Result<Arc<CertificateAuthority>> {
    if args.workload_cert_ttl > args.max_workload_cert_ttl {
        anyhow::bail!(
            "--workload-cert-ttl {:?} is longer than --max-workload-cert-ttl {:?}; lower the \
             first or raise the second",
            args.workload_cert_ttl,
            args.max_workload_cert_ttl
        );
    }
    let lifetimes = LifetimePolicy {
        default: args.workload_cert_ttl,
        max: args.max_workload_cert_ttl,
    };
    if let Some(client) = kube {
        let config = KubeCaConfig {
            namespace: args.namespace.clone(),
            trust_domain: args.trust_domain.clone(),
            key_type: args.ca_key_type,
            lifetimes,
            holder_identity: kube_ca::holder_identity(),
        };
        let ca = kube_ca::open(client.clone(), &config)
            .await
            .map_err(|e| anyhow::anyhow!("the CA in namespace {}: {e}", args.namespace))?;
        tracing::info!(
            namespace = %args.namespace,
            trust_domain = %args.trust_domain,
            roots = ca.authority().bundle().roots().len(),
            "CA ready"
        );
        return Ok(Arc::new(ca));
    }
    let config = CaConfig {
        dir: args.ca_dir.clone(),
        trust_domain: args.trust_domain.clone(),
        key_type: args.ca_key_type,
        lifetimes,
    };
    let ca = CertificateAuthority::open(&config)
        .map_err(|e| anyhow::anyhow!("the CA in --ca-dir {}: {e}", args.ca_dir.display()))?;
    tracing::info!(
        dir = %args.ca_dir.display(),
        trust_domain = %args.trust_domain,
        roots = ca.authority().bundle().roots().len(),
        "CA ready"
    );
    Ok(Arc::new(ca))
}

/// The injector's settings: --injection-config, else the defaults.
fn injection_config(args: &Args) -> anyhow::Result<InjectionConfig> {
    let Some(file) = &args.injection_config else {
        return Ok(InjectionConfig::default());
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read --injection-config {}: {e}", file.display()))?;
    InjectionConfig::from_yaml(&text).map_err(|e| {
        anyhow::anyhow!(
            "--injection-config {}: {e}; see docs/injection.md for its fields",
            file.display()
        )
    })
}

/// The API server's version, for the native-sidecar choice; `None` (the injector
/// then uses its default) when it cannot be read.
async fn kubernetes_version(client: &kube::Client) -> Option<KubernetesVersion> {
    match client.apiserver_version().await {
        Ok(info) => {
            let version = info.git_version.parse().ok();
            tracing::info!(kubernetes = %info.git_version, "API server version");
            version
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read the API server's version; injecting with the default sidecar form");
            None
        }
    }
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
