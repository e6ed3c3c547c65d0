//! A server-first TCP protocol: the server greets with `HELLO <name> <version>\n`
//! before the client sends a byte, then echoes lines. A proxy that waits for the
//! client's first bytes to detect the protocol would hang this forever, which is the
//! point (MySQL and SMTP behave the same).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::workload::Workload;

/// Longest line echoed; a longer one closes the connection.
const MAX_LINE: usize = 64 * 1024;

/// Greets and echoes on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, workload: Workload) {
    let banner = workload.banner();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("mesh-sample-app: accepting a TCP connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let banner = banner.clone();
        tokio::spawn(async move {
            let _ = greet_and_echo(stream, &banner).await;
        });
    }
}

async fn greet_and_echo(stream: TcpStream, banner: &str) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    write.write_all(banner.as_bytes()).await?;
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 || line.len() > MAX_LINE {
            return Ok(());
        }
        write.write_all(line.as_bytes()).await?;
    }
}

/// What a client session saw: the banner, then each echoed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub banner: String,
    pub echoes: Vec<String>,
}

/// Connects to `addr` (host:port, resolved through /etc/hosts and DNS), waits for the
/// banner without sending anything, then sends each line and reads its echo.
pub async fn talk(addr: &str, lines: &[String], timeout: Duration) -> Result<Session, String> {
    tokio::time::timeout(timeout, talk_inner(addr, lines))
        .await
        .map_err(|_| format!("{addr}: no banner or echo within {timeout:?}"))?
}

async fn talk_inner(addr: &str, lines: &[String]) -> Result<Session, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let peer: Option<SocketAddr> = stream.peer_addr().ok();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    let mut banner = String::new();
    reader
        .read_line(&mut banner)
        .await
        .map_err(|e| format!("reading the banner from {addr}: {e}"))?;
    if banner.is_empty() {
        return Err(format!(
            "{addr} ({peer:?}) closed the connection before sending a banner"
        ));
    }
    let mut echoes = Vec::with_capacity(lines.len());
    for line in lines {
        write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| format!("sending to {addr}: {e}"))?;
        let mut echo = String::new();
        reader
            .read_line(&mut echo)
            .await
            .map_err(|e| format!("reading the echo from {addr}: {e}"))?;
        echoes.push(echo.trim_end_matches('\n').to_string());
    }
    Ok(Session {
        banner: banner.trim_end_matches('\n').to_string(),
        echoes,
    })
}
