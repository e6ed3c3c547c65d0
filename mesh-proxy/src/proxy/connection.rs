//! One accepted connection, top-down: original destination → hand-off to the
//! listener of that destination → listener filters (protocol detection) → filter
//! chain match → network filter (HTTP connection manager or TCP proxy).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use super::Shared;
use super::http::{Connection, serve_http};
use super::inspect::inspect;
use super::orig_dst::original_dst;
use super::tcp_proxy::{self, TcpConnection};
use crate::config::filter_chain::{ConnectionInfo, RAW_BUFFER, select};
use crate::config::{FilterChainConfig, ListenerConfig, NetworkFilter};

/// Serves a connection accepted on `listener` until it closes.
pub(super) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerConfig>,
    shared: Shared,
) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    // Envoy's "restored" local address: only ORIGINAL_DST clusters need it to exist.
    let restored = if listener.listener_filters.original_dst {
        original_dst(&stream, local)
    } else {
        None
    };
    let destination = restored.unwrap_or(local);
    let listener = match restored {
        Some(destination) => hand_off(listener, destination, &shared),
        None => listener,
    };
    let detected = match inspect(&stream, &listener.listener_filters).await {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(listener = %listener.name, %peer, "closing: {e}");
            return;
        }
    };
    let info = ConnectionInfo {
        destination,
        source: peer,
        server_name: detected.server_name,
        transport_protocol: detected
            .transport_protocol
            .unwrap_or(RAW_BUFFER)
            .to_string(),
        application_protocols: detected.application_protocols,
    };
    let Some(chain) = filter_chain(&listener, &info) else {
        // Envoy closes connections no chain matches (`no_filter_chain_match`).
        tracing::debug!(listener = %listener.name, ?info, "no filter chain matches; closing");
        return;
    };
    tracing::debug!(listener = %listener.name, chain = %chain.name, %peer, %destination, "filter chain");
    match &chain.filter {
        NetworkFilter::Http(hcm) => {
            let conn = Connection {
                listener: Arc::from(listener.name.as_str()),
                inbound: listener.inbound,
                chain: hcm.clone(),
                peer,
                original_dst: restored,
                shared,
            };
            serve_http(stream, Arc::new(conn)).await;
        }
        NetworkFilter::TcpProxy(config) => {
            let conn = TcpConnection {
                listener: listener.name.clone(),
                peer,
                destination,
                original_dst: restored,
            };
            tcp_proxy::proxy(stream, conn, config, &shared).await;
        }
    }
}

/// A `use_original_dst` listener passes the connection to the listener on its
/// original destination (Envoy's hand-off), if there is one.
fn hand_off(
    listener: Arc<ListenerConfig>,
    destination: SocketAddr,
    shared: &Shared,
) -> Arc<ListenerConfig> {
    if !listener.hand_off {
        return listener;
    }
    let snapshot = shared.snapshots.borrow().clone();
    match snapshot.hand_off_target(destination) {
        Some(target) => target.clone(),
        None => listener,
    }
}

fn filter_chain<'a>(
    listener: &'a ListenerConfig,
    info: &ConnectionInfo,
) -> Option<&'a FilterChainConfig> {
    select(&listener.chain_matches(), info)
        .and_then(|i| listener.filter_chains.get(i))
        .or(listener.default_filter_chain.as_ref())
}
