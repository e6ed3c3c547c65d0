//! The status server and `mesh-proxy wait` over real sockets on 127.0.0.1: app
//! probes answered from the app's own answers, `/quitquitquit`, waiting for ready.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::{Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::*;
use crate::wait::{WaitArgs, wait};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

type Answer = Arc<dyn Fn(&Request<Incoming>) -> StatusCode + Send + Sync>;

/// An HTTP server on 127.0.0.1 answering with `answer`'s status code.
async fn app(answer: Answer) -> SocketAddr {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let mut resp = Response::new(Full::new(Bytes::new()));
                    *resp.status_mut() = answer(&req);
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

async fn status_server(probers: &str) -> (SocketAddr, Arc<Notify>) {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let quit = Arc::new(Notify::new());
    let state = StatusState {
        probers: Arc::new(parse_app_probers(probers).expect("probers")),
        pod_ip: LOCALHOST,
        quit: quit.clone(),
    };
    tokio::spawn(serve_status(listener, state));
    (address, quit)
}

async fn request(address: SocketAddr, method: Method, path: &str) -> StatusCode {
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "status")
        .body(Empty::<Bytes>::new())
        .expect("request");
    sender.send_request(req).await.expect("response").status()
}

#[tokio::test]
async fn app_probes_get_the_apps_answer() {
    let app_address = app(Arc::new(|req| {
        match (req.uri().path(), req.headers().get("x-probe")) {
            ("/ready", Some(v)) if v == "kubelet" => StatusCode::OK,
            ("/ready", _) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }))
    .await;
    let closed = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let closed_port = closed.local_addr().expect("address").port();
    drop(closed);
    let port = app_address.port();
    let probers = format!(
        r#"{{"/app-health/web/readyz":{{"httpGet":{{"path":"/ready","port":{port},"httpHeaders":[{{"name":"X-Probe","value":"kubelet"}}]}},"timeoutSeconds":2}},
            "/app-health/web/livez":{{"httpGet":{{"path":"/broken","port":{port}}}}},
            "/app-health/web/startupz":{{"tcpSocket":{{"port":{port}}}}},
            "/app-health/db/livez":{{"tcpSocket":{{"port":{closed_port}}}}},
            "/app-lifecycle/web/prestopz":{{"httpGet":{{"path":"/ready","port":{port},"httpHeaders":[{{"name":"X-Probe","value":"kubelet"}}]}}}}}}"#
    );
    let (status, _) = status_server(&probers).await;
    let get = |path: &'static str| request(status, Method::GET, path);
    assert_eq!(get("/app-health/web/readyz").await, StatusCode::OK);
    assert_eq!(
        get("/app-health/web/livez").await,
        StatusCode::INTERNAL_SERVER_ERROR,
        "the app's own failure is passed to the kubelet"
    );
    assert_eq!(get("/app-health/web/startupz").await, StatusCode::OK);
    assert_eq!(
        get("/app-health/db/livez").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get("/app-health/other/livez").await, StatusCode::NOT_FOUND);
    assert_eq!(get("/app-lifecycle/web/prestopz").await, StatusCode::OK);
}

#[tokio::test]
async fn https_probes_skip_verification_as_the_kubelet_does() {
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["app.example".into()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let Ok(tls) = acceptor.accept(stream).await else {
                continue;
            };
            let service = service_fn(|_req: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service)
                .await;
        }
    });
    let probers = format!(
        r#"{{"/app-health/web/readyz":{{"httpGet":{{"path":"/","port":{port},"scheme":"HTTPS"}}}}}}"#
    );
    let (status, _) = status_server(&probers).await;
    assert_eq!(
        request(status, Method::GET, "/app-health/web/readyz").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn quitquitquit_stops_the_proxy_on_post_only() {
    let (status, quit) = status_server("").await;
    assert_eq!(
        request(status, Method::GET, "/quitquitquit").await,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let notified = quit.notified();
    assert_eq!(
        request(status, Method::POST, "/quitquitquit").await,
        StatusCode::OK
    );
    tokio::time::timeout(Duration::from_secs(5), notified)
        .await
        .expect("the proxy is told to stop");
}

fn wait_args(address: SocketAddr, timeout_ms: u64) -> WaitArgs {
    WaitArgs {
        address,
        path: "/healthz/ready".into(),
        timeout: Duration::from_millis(timeout_ms),
        period: Duration::from_millis(20),
    }
}

#[tokio::test]
async fn wait_returns_once_the_proxy_is_ready() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let health = app(Arc::new(move |req| {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        match req.uri().path() {
            "/healthz/ready" if n >= 3 => StatusCode::OK,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }))
    .await;
    wait(&wait_args(health, 5_000)).await.expect("ready");
    assert!(calls.load(Ordering::SeqCst) >= 4);
}

#[tokio::test]
async fn wait_gives_up_after_the_timeout_and_says_why() {
    let health = app(Arc::new(|_| StatusCode::SERVICE_UNAVAILABLE)).await;
    let e = wait(&wait_args(health, 200))
        .await
        .expect_err("never ready");
    assert!(e.contains("503"), "{e}");
}

#[test]
fn the_injectors_probes_are_what_the_proxy_reads() {
    use k8s_openapi::api::core::v1::{
        Container, ContainerPort, HTTPGetAction, Pod, PodSpec, Probe,
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use mesh_api::inject::{APP_PROBERS_ENV, InjectionConfig, inject};
    let pod = Pod {
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: 8080,
                    ..ContainerPort::default()
                }]),
                readiness_probe: Some(Probe {
                    http_get: Some(HTTPGetAction {
                        path: Some("/ready".into()),
                        port: IntOrString::String("http".into()),
                        ..HTTPGetAction::default()
                    }),
                    ..Probe::default()
                }),
                ..Container::default()
            }],
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    let injected = inject(&pod, "web", &InjectionConfig::default(), None).expect("injects");
    let env = injected
        .spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten())
        .flat_map(|c| c.env.iter().flatten())
        .find(|e| e.name == APP_PROBERS_ENV)
        .and_then(|e| e.value.clone())
        .expect("the probers env");
    let probers = parse_app_probers(&env).expect("the proxy reads them");
    let ready = &probers["/app-health/web/readyz"];
    let http = ready.http_get.as_ref().expect("http");
    assert_eq!(http.port, IntOrString::Int(8080));
    assert!(parse_app_probers("{").is_err());
}

/// A gRPC health server over h2c answering `status` for every service but `down`.
async fn grpc_health(status: u8) -> u16 {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(move |req: Request<Incoming>| async move {
                use http_body_util::BodyExt as _;
                assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                let body = req.into_body().collect().await.expect("body").to_bytes();
                let status = if body.ends_with(b"down") { 2 } else { status };
                let mut trailers = hyper::HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().expect("value"));
                let frames = vec![
                    Ok::<_, Infallible>(Frame::data(Bytes::from(vec![
                        0, 0, 0, 0, 2, 0x08, status,
                    ]))),
                    Ok(Frame::trailers(trailers)),
                ];
                let mut resp = Response::new(StreamBody::new(tokio_stream::iter(frames)));
                resp.headers_mut()
                    .insert("content-type", "application/grpc".parse().expect("value"));
                Ok::<_, Infallible>(resp)
            });
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

#[tokio::test]
async fn grpc_probes_ask_the_apps_health_service() {
    let port = grpc_health(1).await;
    let probers = format!(
        r#"{{"/app-health/api/livez":{{"grpc":{{"port":{port}}}}},
            "/app-health/api/readyz":{{"grpc":{{"port":{port},"service":"down"}}}}}}"#
    );
    let (status, _) = status_server(&probers).await;
    assert_eq!(
        request(status, Method::GET, "/app-health/api/livez").await,
        StatusCode::OK
    );
    assert_eq!(
        request(status, Method::GET, "/app-health/api/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "NOT_SERVING"
    );
}
