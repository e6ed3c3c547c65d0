//! The upstream of every path: a minimal HTTP/1.1 keep-alive server answering 1 KiB.
//!
//! It runs as the bench binary itself (`proxy serve ADDR`), started with `ip netns
//! exec` in the server pod, so that the server costs as little CPU as hyper allows and
//! the proxies, not the app, are what the figures tell apart.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The first argument that makes the bench binary the server.
pub(crate) const ROLE: &str = "serve";

/// The response body: 1 KiB, like the requests oha sends.
static BODY: [u8; 1024] = [b'x'; 1024];

/// `proxy serve ADDR`: serves until killed.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let Some(addr) = args.first().and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("usage: proxy {ROLE} IP:PORT");
        return ExitCode::from(2);
    };
    // Two workers as on this machine's two cores: fewer would make the server the
    // bottleneck of the direct path, more would only add scheduling.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(addr)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench server on {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("bench server listening on {addr}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // EMFILE and friends: keep serving the connections already open.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer));
            // A client closing mid-request is normal at the end of a run.
            let _ = conn.await;
        });
    }
}

/// Reads the whole request body (so that keep-alive can go on), answers 200 with 1 KiB.
async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let _ = req.into_body().collect().await;
    Ok(Response::new(Full::new(Bytes::from_static(&BODY))))
}
