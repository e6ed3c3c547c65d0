//! An in-process TCP echo server standing in for one workload of Istio's `tcp-echo`
//! sample: every line it reads comes back prefixed with the workload's name, so a
//! client can tell which workload a connection reached.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// Give up on one exchange after this long.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(5);

/// A running TCP echo server; it stops (and drops its connections) when dropped.
#[derive(Debug)]
pub struct TcpEchoServer {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TcpEchoServer {
    /// Starts a TCP echo server for `workload` on `addr`.
    pub async fn start(workload: &str, addr: SocketAddr) -> std::io::Result<TcpEchoServer> {
        let listener = TcpListener::bind(addr).await?;
        let connections = Arc::new(AtomicU64::default());
        let task = tokio::spawn(accept_loop(
            listener,
            workload.to_string(),
            connections.clone(),
        ));
        Ok(TcpEchoServer {
            addr,
            connections,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TcpEchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, workload: String, connections: Arc<AtomicU64>) {
    let mut tasks = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        connections.fetch_add(1, Ordering::SeqCst);
        tasks.spawn(echo_lines(stream, workload.clone()));
        while tasks.try_join_next().is_some() {}
    }
}

/// Answers each line with `<workload> <line>`.
async fn echo_lines(stream: TcpStream, workload: String) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if write
            .write_all(format!("{workload} {line}\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Opens a connection to `addr`, sends `line` and returns the line that comes back (the
/// answering workload's name, a space, `line`).
pub async fn tcp_exchange(addr: SocketAddr, line: &str) -> Result<String, String> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let (read, mut write) = stream.into_split();
        write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("write to {addr}: {e}"))?;
        let mut answer = String::new();
        let n = BufReader::new(read)
            .read_line(&mut answer)
            .await
            .map_err(|e| format!("read from {addr}: {e}"))?;
        if n == 0 {
            return Err(format!("{addr} closed the connection without answering"));
        }
        Ok(answer.trim_end().to_string())
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("{addr}: no answer in {EXCHANGE_TIMEOUT:?}"))?
}
