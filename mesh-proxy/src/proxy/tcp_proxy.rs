//! Envoy's `tcp_proxy` network filter: pick the cluster (weights), the endpoint
//! (balancer, or the original destination), connect, then copy both ways until both
//! sides have finished, propagating each half-close, under the idle timeout.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::{Shared, random};
use crate::config::{TcpClusters, TcpProxyConfig};
use crate::stats::ResponseFlag;
use crate::transport::{BoxedIo, DownstreamInfo, Io};

/// Per-direction copy buffer.
const BUFFER: usize = 16 * 1024;

/// A downstream connection handed to the TCP proxy.
#[derive(Debug)]
pub(super) struct TcpConnection {
    pub(super) listener: String,
    pub(super) downstream: Arc<DownstreamInfo>,
}

/// Proxies one connection; both sides are closed when this returns.
pub(super) async fn proxy<D: Io>(
    downstream: D,
    conn: TcpConnection,
    config: &TcpProxyConfig,
    shared: &Shared,
) {
    let start = std::time::Instant::now();
    let (cluster_name, outcome) = match connect(&conn, config, shared).await {
        Ok((name, upstream, host)) => {
            let result = splice(downstream, upstream, config.idle_timeout).await;
            (name, Outcome::Proxied { host, result })
        }
        Err((name, flag)) => (name, Outcome::Failed(flag)),
    };
    let (flag, received, sent, detail) = match &outcome {
        Outcome::Failed(flag) => (flag.short(), 0, 0, String::new()),
        Outcome::Proxied { host, result } => match result {
            Ok((received, sent)) => ("-", *received, *sent, host.to_string()),
            Err(e) => ("-", 0, 0, format!("{host}: {e}")),
        },
    };
    tracing::info!(
        target: "access",
        listener = %conn.listener,
        "tcp {} -> {} {cluster_name} {flag} rx={received} tx={sent} {}ms {detail}",
        conn.downstream.peer(),
        conn.downstream.connection.destination,
        start.elapsed().as_millis(),
    );
}

enum Outcome {
    Failed(ResponseFlag),
    Proxied {
        host: SocketAddr,
        result: io::Result<(u64, u64)>,
    },
}

/// The upstream connection, or Envoy's response flag for why there is none (the
/// downstream connection is then closed).
async fn connect(
    conn: &TcpConnection,
    config: &TcpProxyConfig,
    shared: &Shared,
) -> Result<(String, BoxedIo, SocketAddr), (String, ResponseFlag)> {
    let snapshot = shared.snapshots.borrow().clone();
    let name = match &config.clusters {
        TcpClusters::Cluster(name) => name.clone(),
        TcpClusters::Weighted(clusters) => pick_weighted(clusters, random()).to_string(),
    };
    let Some(cluster) = snapshot.clusters.get(&name) else {
        return Err((name, ResponseFlag::NoClusterFound));
    };
    let mut previous = None;
    for _ in 0..config.max_connect_attempts {
        // A STATIC cluster without endpoints (BlackHoleCluster) ends here: `UH`.
        let Some(host) = cluster.pick(previous, conn.downstream.original_dst, None) else {
            return Err((name, ResponseFlag::NoHealthyUpstream));
        };
        match cluster.runtime.connect(host.address).await {
            Ok(upstream) => return Ok((name, upstream, host.address)),
            Err(e) => {
                tracing::debug!(cluster = %name, host = %host.address, "connect failed: {e}");
                previous = Some(host.address);
            }
        }
    }
    Err((name, ResponseFlag::UpstreamConnectionFailure))
}

/// A weighted draw; `clusters` is never empty and has no zero weight (see config).
pub(super) fn pick_weighted(clusters: &[(String, u32)], random: u64) -> &str {
    let total: u64 = clusters.iter().map(|(_, w)| u64::from(*w)).sum();
    let mut point = random % total.max(1);
    for (name, weight) in clusters {
        if point < u64::from(*weight) {
            return name;
        }
        point -= u64::from(*weight);
    }
    clusters.last().map_or("", |(n, _)| n.as_str())
}

/// Copies both ways until each side has sent its FIN (passed on as a half-close), an
/// error, or `idle` without a byte either way. Returns the bytes (down→up, up→down).
pub(super) async fn splice<D: Io, U: Io>(
    downstream: D,
    upstream: U,
    idle: Option<Duration>,
) -> io::Result<(u64, u64)> {
    let (mut down_read, mut down_write) = tokio::io::split(downstream);
    let (mut up_read, mut up_write) = tokio::io::split(upstream);
    let base = Instant::now();
    // Milliseconds after `base` of the last byte, either way.
    let last_activity = AtomicU64::new(0);
    let copy = async {
        tokio::try_join!(
            copy_half(&mut down_read, &mut up_write, &last_activity, base),
            copy_half(&mut up_read, &mut down_write, &last_activity, base),
        )
    };
    let idle_timer = async {
        let Some(idle) = idle else {
            return std::future::pending().await;
        };
        loop {
            let last = base + Duration::from_millis(last_activity.load(Ordering::Relaxed));
            if Instant::now() >= last + idle {
                return io::Error::new(io::ErrorKind::TimedOut, "idle timeout");
            }
            tokio::time::sleep_until(last + idle).await;
        }
    };
    tokio::select! {
        result = copy => result,
        e = idle_timer => Err(e),
    }
}

/// One direction: on end of stream, shut down the other side's write half (the FIN
/// goes on) and stop; the other direction carries on.
async fn copy_half<R, W>(
    from: &mut R,
    to: &mut W,
    last_activity: &AtomicU64,
    base: Instant,
) -> io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUFFER];
    let mut total = 0u64;
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            to.shutdown().await?;
            return Ok(total);
        }
        to.write_all(&buf[..n]).await?;
        total += n as u64;
        let now = u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX);
        last_activity.store(now, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::duplex;

    use super::*;

    #[tokio::test]
    async fn any_two_byte_streams_are_spliced_and_each_half_close_passed_on() {
        let (downstream, mut client) = duplex(1024);
        let (upstream, mut server) = duplex(1024);
        let spliced = tokio::spawn(splice(downstream, upstream, None));
        client.write_all(b"ping").await.expect("write");
        client.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.expect("read to the FIN");
        assert_eq!(got, b"ping");
        // The other direction still flows after the client's half-close.
        server.write_all(b"pong!").await.expect("write");
        server.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("read to the FIN");
        assert_eq!(got, b"pong!");
        assert_eq!(spliced.await.expect("task").expect("spliced"), (4, 5));
    }
}
