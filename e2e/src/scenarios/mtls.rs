//! Mutual TLS between sidecars, both kinds: client sidecar ∈ {mesh-proxy, Envoy} ×
//! server sidecar ∈ {mesh-proxy, Envoy}, STRICT mesh-wide, for HTTP/1.1, gRPC
//! (HTTP/2) and TCP. Each cell must pass, the server app must see the client's
//! SPIFFE ID in `x-forwarded-client-cert`, and both sidecars must count the TLS
//! handshake. A pod outside the mesh is refused.

use serde_json::Value;

use super::{NAMESPACE, apply_synced, deploy_synced};
use crate::cluster::{Cluster, ClusterError, Pod, PodSpec, SAMPLE_APP, SidecarProxy};

/// Services `web-mesh-proxy` and `web-envoy`, each selecting its own server pod.
const SERVICES: &str = "
    apiVersion: v1
    kind: Service
    metadata: {name: web-mesh-proxy, namespace: mesh}
    spec:
      selector: {app: web-mesh-proxy}
      ports:
      - {name: http, port: 9080}
      - {name: grpc, port: 9090}
      - {name: tcp, port: 9000}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: web-envoy, namespace: mesh}
    spec:
      selector: {app: web-envoy}
      ports:
      - {name: http, port: 9080}
      - {name: grpc, port: 9090}
      - {name: tcp, port: 9000}
";

/// Mesh-wide STRICT (the root namespace's selector-less policy).
pub const STRICT: &str = "
    apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: default, namespace: mesh-system}
    spec:
      mtls: {mode: STRICT}
";

/// The proxy's name in pod and service names.
fn kind(proxy: SidecarProxy) -> &'static str {
    match proxy {
        SidecarProxy::MeshProxy => "mesh-proxy",
        SidecarProxy::Envoy => "envoy",
    }
}

fn with_proxy(spec: PodSpec, proxy: SidecarProxy) -> PodSpec {
    match proxy {
        SidecarProxy::MeshProxy => spec,
        SidecarProxy::Envoy => spec.envoy_sidecar(),
    }
}

/// The SPIFFE ID of service account `sa` in the scenarios' namespace.
pub fn spiffe(sa: &str) -> String {
    format!("spiffe://cluster.local/ns/{NAMESPACE}/sa/{sa}")
}

/// The twelve cells: every client proxy to every server proxy, three protocols each.
pub async fn interop_matrix<C: Cluster>(cluster: &mut C) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", SERVICES).await?;
    apply_synced(cluster, "strict.yaml", STRICT).await?;
    let proxies = [SidecarProxy::MeshProxy, SidecarProxy::Envoy];
    let mut servers = Vec::new();
    for server in proxies {
        let name = format!("web-{}", kind(server));
        let spec = PodSpec::sample_app(&format!("{name}-0"), NAMESPACE, &name, "v1", &[])
            .service_account(&name);
        servers.push(deploy_synced(cluster, with_proxy(spec, server)).await?);
    }
    let mut clients = Vec::new();
    for client in proxies {
        let name = format!("client-{}", kind(client));
        let spec = PodSpec::sample_app(&format!("{name}-0"), NAMESPACE, &name, "v1", &[])
            .service_account(&name);
        clients.push((
            client,
            deploy_synced(cluster, with_proxy(spec, client)).await?,
        ));
    }
    let mut failures = Vec::new();
    for (client, pod) in &clients {
        let caller = spiffe(&format!("client-{}", kind(*client)));
        for server in proxies {
            let service = format!("web-{}", kind(server));
            let cell = format!("{} → {}", kind(*client), kind(server));
            if let Err(e) = http_cell(cluster, pod, &service, &caller).await {
                failures.push(format!("{cell} HTTP/1.1: {e}"));
            }
            if let Err(e) = grpc_cell(cluster, pod, &service, &caller).await {
                failures.push(format!("{cell} gRPC: {e}"));
            }
            if let Err(e) = tcp_cell(cluster, pod, &service).await {
                failures.push(format!("{cell} TCP: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 12 cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Each side's admin counts the handshakes: servers terminated mTLS from both
    // clients (HTTP, gRPC, TCP each), clients originated it to both servers.
    for (pod, scope) in servers
        .iter()
        .map(|p| (p, "listener."))
        .chain(clients.iter().map(|(_, p)| (p, "cluster.")))
    {
        let handshakes = ssl_handshakes(cluster, pod, scope).await?;
        assert!(
            handshakes >= 6,
            "{}: {handshakes} {scope}*ssl.handshake, expected one per cell at least",
            pod.id
        );
    }
    // A pod outside the mesh reaches a STRICT server's pod IP in plain text: refused.
    let outsider =
        PodSpec::sample_app("outsider-0", NAMESPACE, "outsider", "v1", &[]).sidecar(false);
    let outsider = cluster.deploy(outsider).await?;
    for server in &servers {
        let url = format!("http://{}:9080/", server.ip);
        let out = cluster.exec(&outsider, &[SAMPLE_APP, "get", &url]).await?;
        assert_ne!(
            out.status, 0,
            "plain text from outside the mesh must not reach {}: {}",
            server.id, out.stdout
        );
    }
    Ok(())
}

/// The sum of a proxy's `<scope>…ssl.handshake` counters (Envoy keeps one per listener
/// or cluster, mesh-proxy one per direction).
async fn ssl_handshakes<C: Cluster>(
    cluster: &C,
    pod: &Pod,
    scope: &str,
) -> Result<u64, ClusterError> {
    let stats = cluster.proxy_admin(pod, "/stats").await?;
    Ok(stats
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(name, _)| name.starts_with(scope) && name.ends_with("ssl.handshake"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum())
}

/// One HTTP/1.1 request: 200 from the service, with the caller's identity.
async fn http_cell<C: Cluster>(
    cluster: &C,
    client: &Pod,
    service: &str,
    caller: &str,
) -> Result<(), String> {
    let url = format!("http://{service}:9080/");
    let out = cluster
        .exec(client, &[SAMPLE_APP, "get", &url])
        .await
        .map_err(|e| e.to_string())?;
    if out.status != 0 {
        return Err(format!("no answer: {} {}", out.stdout, out.stderr));
    }
    let reply: Value =
        serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {}", out.stdout))?;
    let xfcc = reply["headers"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_default();
    expect_caller(xfcc, caller)
}

/// One gRPC call: status 0, and the server saw the caller's identity.
async fn grpc_cell<C: Cluster>(
    cluster: &C,
    client: &Pod,
    service: &str,
    caller: &str,
) -> Result<(), String> {
    let target = format!("{service}:9090");
    let out = cluster
        .exec(client, &[SAMPLE_APP, "grpc", &target])
        .await
        .map_err(|e| e.to_string())?;
    let reply: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| format!("{e}: {} {}", out.stdout, out.stderr))?;
    if reply["grpc_status"] != 0 {
        return Err(format!(
            "status {}: {}",
            reply["grpc_status"], reply["grpc_message"]
        ));
    }
    let xfcc = reply["reply"]["metadata"]["x-forwarded-client-cert"]
        .as_str()
        .unwrap_or_default();
    expect_caller(xfcc, caller)
}

/// The server-first TCP protocol: the banner, then the echo.
async fn tcp_cell<C: Cluster>(cluster: &C, client: &Pod, service: &str) -> Result<(), String> {
    let target = format!("{service}:9000");
    let lines = cluster
        .tcp(client, &target, &["ping"])
        .await
        .map_err(|e| e.to_string())?;
    let banner = format!("HELLO {service} v1");
    if lines != [banner.as_str(), "ping"] {
        return Err(format!("got {lines:?}"));
    }
    Ok(())
}

fn expect_caller(xfcc: &str, caller: &str) -> Result<(), String> {
    if xfcc.contains(&format!("URI={caller}")) {
        Ok(())
    } else {
        Err(format!(
            "x-forwarded-client-cert {xfcc:?} does not name the caller {caller}"
        ))
    }
}

/// The serial of the workload certificate a sidecar presents now (its `/certs`, in
/// Envoy's shape, which mesh-proxy serves too).
pub async fn serving_serial<C: Cluster>(cluster: &C, pod: &Pod) -> Result<String, ClusterError> {
    let certs = cluster.proxy_admin(pod, "/certs").await?;
    let json: Value = serde_json::from_str(&certs).map_err(|e| ClusterError::Client {
        pod: pod.id.to_string(),
        command: "admin /certs".to_string(),
        detail: format!("{e}: {certs}"),
    })?;
    Ok(json["certificates"][0]["cert_chain"][0]["serial_number"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// `web` (mesh-proxy) and a meshed client under STRICT mTLS; returns (client, web).
pub async fn strict_pair<C: Cluster>(cluster: &mut C) -> Result<(Pod, Pod), ClusterError> {
    cluster.apply("web.yaml", super::WEB_SERVICE).await?;
    apply_synced(cluster, "strict.yaml", STRICT).await?;
    let client = super::client(cluster).await?;
    let web = super::web(cluster, "web-v1-0", "v1").await?;
    Ok((client, web))
}

/// Requests from `client` to `web` in the background, sized to last at least `lasting`
/// at the rate a short warm-up measured.
pub async fn steady_load<C: Cluster>(
    cluster: &C,
    client: &Pod,
    lasting: std::time::Duration,
) -> Result<crate::cluster::Running, ClusterError> {
    let url = "http://web:9080/";
    let warm = cluster
        .request(client, url, &["-n", "200", "-c", "2"])
        .await?;
    assert_eq!(warm.successes(), warm.requests, "warm-up: {warm}");
    let rate = warm.requests as f64 / (warm.elapsed_ms / 1000.0).max(0.001);
    // Twice the estimate: the load must outlast what it covers (checked after).
    let n = ((rate * lasting.as_secs_f64() * 2.0) as u64)
        .max(1000)
        .to_string();
    cluster.request_in_background(client, url, &["-n", &n, "-c", "2"])
}
