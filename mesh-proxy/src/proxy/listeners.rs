//! Binds the listeners the config asks for and serves HTTP on them; a listener that
//! leaves the config stops accepting (its open connections finish).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Shared;
use super::http::{Connection, handle};
use crate::config::{ListenerRole, Snapshot};

/// Follows the snapshots forever, keeping the bound listeners in step.
pub async fn run(shared: Shared) {
    let mut snapshots = shared.snapshots.clone();
    let mut bound: HashMap<String, (SocketAddr, JoinHandle<()>)> = HashMap::new();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        reconcile(&snapshot, &mut bound, &shared).await;
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

async fn reconcile(
    snapshot: &Snapshot,
    bound: &mut HashMap<String, (SocketAddr, JoinHandle<()>)>,
    shared: &Shared,
) {
    let wanted: HashMap<&str, SocketAddr> = snapshot
        .listeners
        .values()
        .filter(|l| matches!(l.role, ListenerRole::Http(_)))
        .map(|l| (l.name.as_str(), l.address))
        .collect();
    bound.retain(|name, (addr, task)| {
        let keep = wanted.get(name.as_str()) == Some(addr);
        if !keep {
            tracing::info!(listener = %name, "stopping listener");
            task.abort();
        }
        keep
    });
    for (name, addr) in wanted {
        if bound.contains_key(name) {
            continue;
        }
        match TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(listener = %name, %addr, "listening");
                let task = tokio::spawn(accept(listener, name.to_string(), shared.clone()));
                bound.insert(name.to_string(), (addr, task));
            }
            // Retried on the next config update, as Envoy retries a failed bind.
            Err(e) => tracing::warn!(listener = %name, %addr, "cannot bind: {e}"),
        }
    }
}

async fn accept(listener: TcpListener, name: String, shared: Shared) {
    let name: Arc<str> = Arc::from(name);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(listener = %name, "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Connection {
            listener: name.clone(),
            peer,
            shared: shared.clone(),
        });
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(conn.clone(), req));
            // HTTP/1.1 and HTTP/2 with prior knowledge, told apart by the preface.
            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
}
