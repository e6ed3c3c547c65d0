//! The TCP paths with real sockets on 127.0.0.0/8, no root: what mesh-control's
//! translator emits for a sidecar is applied as mesh-proxy applies xDS, then served.
//! A bound Sidecar egress listener proxies TCP (half-close both ways, idle timeout);
//! `virtualInbound`, bound on a test address, sniffs HTTP vs TCP and reaches the app
//! from 127.0.0.6 as Istio's inbound clusters do.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{Address, SocketAddress, address, socket_address};
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryResponse, Resource};
use envoy_types::pb::google::protobuf::{Any, Duration as ProtoDuration};
use mesh_api::manifest::parse_file;
use mesh_api::model::{MeshModel, MeshSettings};
use mesh_api::xds::type_url::{CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION};
use mesh_control::xds::node::{ProxyKind, ProxyNode};
use mesh_control::xds::resources::ProxyResources;
use mesh_control::xds::translate::{translate, translate_endpoints};
use mesh_proxy::config::Snapshot;
use mesh_proxy::proxy::Shared;
use mesh_proxy::stats::Stats;
use mesh_proxy::xds::XdsState;
use prost::{Message, Name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// `db` (TCP, port 9000) on `upstream`; the client workload on `client` with a bound
/// TCP egress listener and an inbound port 7070 without a declared protocol.
fn config(client: &str, upstream: &str) -> String {
    format!(
        "
apiVersion: v1
kind: Service
metadata: {{name: db, namespace: demo}}
spec:
  clusterIP: 10.96.0.70
  selector: {{app: db}}
  ports: [{{name: tcp, port: 9000}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: db-0, namespace: demo}}
spec: {{address: {upstream}, labels: {{app: db}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: client, namespace: demo}}
spec:
  clusterIP: 10.96.0.71
  selector: {{app: client}}
  ports: [{{port: 7070}}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: client-0, namespace: demo}}
spec: {{address: {client}, labels: {{app: client}}}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: client, namespace: demo}}
spec:
  workloadSelector: {{labels: {{app: client}}}}
  egress:
  - port: {{number: 9000, protocol: TCP, name: tcp}}
    bind: {client}
    captureMode: NONE
    hosts: [\"./*\"]
"
    )
}

fn resources(client: &str, upstream: &str) -> ProxyResources {
    let parsed = parse_file("mesh.yaml", &config(client, upstream));
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let objects: Vec<_> = parsed
        .objects
        .into_iter()
        .map(|p| Arc::new(p.object))
        .collect();
    let model = MeshModel::build(objects, MeshSettings::default());
    let node = ProxyNode {
        id: ProxyNode::sidecar_id(client, "client-0", "demo"),
        kind: ProxyKind::Sidecar,
        ips: vec![client.to_string()],
        workload_name: "client-0".into(),
        namespace: "demo".into(),
        labels: BTreeMap::new(),
        service_account: None,
        sds: false,
    };
    let mut r = translate(&model, &node);
    r.endpoints = translate_endpoints(&model, &node);
    r
}

fn socket(addr: SocketAddr) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: addr.ip().to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(
                addr.port(),
            ))),
            ..Default::default()
        })),
    })
}

/// Applies the resources as the xDS client does (every one must be accepted) and
/// serves them; the proxy stops when the returned sender is dropped.
async fn serve(r: &ProxyResources) -> watch::Sender<Arc<Snapshot>> {
    fn response<T: Message + Name>(
        type_url: &str,
        items: &[T],
        name: fn(&T) -> &str,
    ) -> DeltaDiscoveryResponse {
        DeltaDiscoveryResponse {
            type_url: type_url.into(),
            resources: items
                .iter()
                .map(|i| Resource {
                    name: name(i).to_string(),
                    version: "1".into(),
                    resource: Some(Any {
                        type_url: T::type_url(),
                        value: i.encode_to_vec(),
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
    let mut state = XdsState::default();
    for (what, resp) in [
        ("clusters", response(CLUSTER, &r.clusters, |c| &c.name)),
        ("listeners", response(LISTENER, &r.listeners, |l| &l.name)),
        (
            "routes",
            response(ROUTE_CONFIGURATION, &r.routes, |rc| &rc.name),
        ),
        (
            "endpoints",
            response(CLUSTER_LOAD_ASSIGNMENT, &r.endpoints, |e| &e.cluster_name),
        ),
    ] {
        state
            .apply(&resp)
            .unwrap_or_else(|e| panic!("mesh-proxy NACKs the translator's {what}: {e}"));
    }
    let snapshot = state.snapshot(&Snapshot::default());
    assert!(snapshot.synced, "every resource arrived");
    let (tx, rx) = watch::channel(Arc::new(snapshot));
    let shared = Shared {
        snapshots: rx,
        stats: Arc::new(Stats::default()),
        drain: Default::default(),
        tls: Default::default(),
        certificates: watch::channel(None).1,
    };
    tokio::spawn(mesh_proxy::proxy::listeners::run(shared));
    tx
}

/// The translator's listeners, with the capture listeners moved off the host's
/// 15001/15006 (`virtualInbound` onto `inbound`, if given).
fn listeners_for_test(r: &mut ProxyResources, spare: SocketAddr, inbound: Option<SocketAddr>) {
    for l in &mut r.listeners {
        match l.name.as_str() {
            "virtualOutbound" => l.address = socket(spare),
            "virtualInbound" => {
                l.address = socket(inbound.unwrap_or(SocketAddr::new(spare.ip(), spare.port() + 1)))
            }
            _ => {}
        }
    }
}

fn tcp_proxy_of(l: &mut Listener) -> (&mut Any, TcpProxy) {
    let chain = l.filter_chains.first_mut().expect("a filter chain");
    let Some(filter::ConfigType::TypedConfig(any)) = &mut chain.filters[0].config_type else {
        panic!("typed config")
    };
    let proxy = TcpProxy::decode(any.value.as_slice()).expect("a tcp_proxy");
    (any, proxy)
}

async fn connect(addr: SocketAddr) -> TcpStream {
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(addr).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} never listened")
}

/// Reads what the client sends until its FIN, then (only then) answers and closes:
/// a server that needs the half-close to reach it.
async fn answer_after_eof(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("bind the upstream");
    tokio::spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let reply = format!("from {} got {:?}", peer.ip(), String::from_utf8_lossy(&got));
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
}

#[tokio::test]
async fn tcp_proxy_passes_half_close_both_ways() {
    let (client, upstream) = ("127.0.0.50", "127.0.0.51");
    answer_after_eof(format!("{upstream}:9000").parse().expect("addr")).await;
    let mut r = resources(client, upstream);
    listeners_for_test(&mut r, "127.0.0.52:15001".parse().expect("addr"), None);
    let _proxy = serve(&r).await;

    let mut s = connect(format!("{client}:9000").parse().expect("addr")).await;
    s.write_all(b"hello").await.expect("write");
    s.shutdown().await.expect("half-close");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut reply))
        .await
        .expect("the upstream answered after our FIN and closed")
        .expect("read");
    // The outbound cluster has no bind config: the kernel's loopback source.
    assert_eq!(reply, "from 127.0.0.1 got \"hello\"");
}

#[tokio::test]
async fn tcp_proxy_closes_both_sides_after_the_idle_timeout() {
    let (client, upstream) = ("127.0.0.53", "127.0.0.54");
    answer_after_eof(format!("{upstream}:9000").parse().expect("addr")).await;
    let mut r = resources(client, upstream);
    listeners_for_test(&mut r, "127.0.0.55:15001".parse().expect("addr"), None);
    let egress = r
        .listeners
        .iter_mut()
        .find(|l| l.name == format!("{client}_9000"))
        .expect("the bound egress listener");
    let (any, mut proxy) = tcp_proxy_of(egress);
    proxy.idle_timeout = Some(ProtoDuration {
        seconds: 0,
        nanos: 300_000_000,
    });
    any.value = proxy.encode_to_vec();
    let _proxy = serve(&r).await;

    let mut s = connect(format!("{client}:9000").parse().expect("addr")).await;
    let start = std::time::Instant::now();
    // Activity keeps it open past one timeout…
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        s.write_all(b".").await.expect("still open");
    }
    // …silence closes it. The upstream's reply proves it saw the proxy's FIN too.
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(3), s.read_to_string(&mut reply))
        .await
        .expect("closed by the idle timeout")
        .expect("read");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(reply, "", "closed, not answered");
}

/// The local app on port 7070: HTTP gets a response naming the peer; anything else
/// is echoed after the peer's name, until the client's FIN.
async fn app(addr: SocketAddr) {
    let listener = TcpListener::bind(addr).await.expect("bind the app");
    tokio::spawn(async move {
        while let Ok((mut s, peer)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                if buf[..n].starts_with(b"GET ") {
                    let body = format!("http from {}", peer.ip());
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all((head + &body).as_bytes()).await;
                    return;
                }
                let mut got = buf[..n].to_vec();
                let _ = s.read_to_end(&mut got).await;
                let reply = format!("tcp from {} {}", peer.ip(), String::from_utf8_lossy(&got));
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
}

#[tokio::test]
async fn virtual_inbound_sniffs_http_and_tcp_and_reaches_the_app_from_127_0_0_6() {
    let (client, upstream) = ("127.0.0.56", "127.0.0.57");
    app(format!("{client}:7070").parse().expect("addr")).await;
    let mut r = resources(client, upstream);
    // Bound on port 7070 of another address, the destination port matches the app's
    // chains as a captured connection's original destination would.
    let inbound: SocketAddr = "127.0.0.58:7070".parse().expect("addr");
    listeners_for_test(
        &mut r,
        "127.0.0.58:15001".parse().expect("addr"),
        Some(inbound),
    );
    let _proxy = serve(&r).await;

    let mut tcp = connect(inbound).await;
    tcp.write_all(b"ping").await.expect("write");
    tcp.shutdown().await.expect("half-close");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut reply))
        .await
        .expect("answered")
        .expect("read");
    assert_eq!(reply, "tcp from 127.0.0.6 ping");

    let mut http = connect(inbound).await;
    http.write_all(b"GET /x HTTP/1.1\r\nHost: client\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(5), http.read_to_string(&mut reply))
        .await
        .expect("answered")
        .expect("read");
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("http from 127.0.0.6"), "{reply}");
}
