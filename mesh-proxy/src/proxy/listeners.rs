//! Binds the listeners the config asks for (those with `bind_to_port`; the others
//! are reached by hand-off) and hands each accepted connection to
//! [`connection::serve`]; a listener that leaves the config stops accepting (its open
//! connections finish).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

use super::Shared;
use super::connection;
use crate::config::Snapshot;

/// Envoy's default `tcp_backlog_size`.
const BACKLOG: u32 = 128;

/// Follows the snapshots forever, keeping the bound listeners in step.
pub async fn run(shared: Shared) {
    let mut snapshots = shared.snapshots.clone();
    let mut bound: HashMap<String, (SocketAddr, JoinHandle<()>)> = HashMap::new();
    loop {
        let snapshot = snapshots.borrow_and_update().clone();
        reconcile(&snapshot, &mut bound, &shared);
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

fn reconcile(
    snapshot: &Snapshot,
    bound: &mut HashMap<String, (SocketAddr, JoinHandle<()>)>,
    shared: &Shared,
) {
    let wanted: HashMap<&str, SocketAddr> = snapshot
        .listeners
        .values()
        .filter(|l| l.bind_to_port)
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
        match bind(addr) {
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

/// Binds as Envoy does on Linux: SO_REUSEADDR, and SO_REUSEPORT (`enable_reuse_port`
/// defaults to true), so that proxies sharing a host can all bind 15001 and 15006.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

async fn accept(listener: TcpListener, name: String, shared: Shared) {
    let inbound = shared
        .snapshots
        .borrow()
        .listeners
        .get(&name)
        .is_some_and(|l| l.inbound);
    let drained = async {
        if inbound {
            shared.drain.signaled().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(drained);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Draining: stop accepting new inbound connections (peers retry another
            // endpoint); dropping the listener closes its socket. Outbound listeners
            // keep serving the app until the process exits, as Istio's
            // `drain_listeners?inboundonly`.
            () = &mut drained => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(listener = %name, "accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // The listener as it is now: a connection keeps the config it was accepted with.
        let Some(config) = shared.snapshots.borrow().listeners.get(&name).cloned() else {
            continue;
        };
        // Counted until it ends, so that a drain waits for it.
        let guard = shared.drain.connection();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _guard = guard;
            connection::serve(stream, peer, config, shared).await;
        });
    }
}
