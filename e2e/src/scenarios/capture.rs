//! Transparent capture: the app knows nothing of its sidecar, yet a request to a
//! Service VIP leaves through the client's sidecar (15001, `virtualOutbound`) and
//! enters through the server's (15006, `virtualInbound`); ports excluded by Istio's
//! annotations bypass the sidecar both ways.

use std::net::{IpAddr, SocketAddr};

use mesh_sample_app::EchoReply;

use super::{NAMESPACE, WEB_SERVICE, client, deploy_synced, proxy_counter, web};
use crate::cluster::spec::{EXCLUDE_INBOUND_PORTS, EXCLUDE_OUTBOUND_PORTS};
use crate::cluster::{Cluster, ClusterError, ExecOutput, PodRef, PodSpec, SAMPLE_APP};

/// The HTTP connection manager stats of the listeners captured traffic lands on
/// (Istio's names: `outbound_0.0.0.0_<port>` behind 15001, `inbound_0.0.0.0_<port>`
/// behind 15006).
const OUTBOUND_9080: &str = "http.outbound_0.0.0.0_9080.downstream_rq_total";
const INBOUND_9080: &str = "http.inbound_0.0.0.0_9080.downstream_rq_total";

/// Headers a sidecar adds to every request it proxies and the sample app's client never
/// sends: seeing them at the server proves a proxy was on the path.
const PROXY_HEADERS: [&str; 2] = ["x-request-id", "x-forwarded-proto"];

/// Ten requests from a meshed client to `web`'s VIP are counted by the client's
/// sidecar as outbound and by the server's as inbound, and arrive with the headers a
/// proxy adds.
pub async fn outbound_and_inbound_capture<C: Cluster>(cluster: &mut C) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", WEB_SERVICE).await?;
    let client = client(cluster).await?;
    let server = web(cluster, "web-v1-0", "v1").await?;
    let out_before = proxy_counter(cluster, &client, OUTBOUND_9080).await?;
    let in_before = proxy_counter(cluster, &server, INBOUND_9080).await?;

    let summary = cluster
        .request(&client, "http://web:9080/", &["-n", "10"])
        .await?;
    assert_eq!(summary.workload_count("web/v1"), 10, "{summary}");
    let out = proxy_counter(cluster, &client, OUTBOUND_9080).await? - out_before;
    let inbound = proxy_counter(cluster, &server, INBOUND_9080).await? - in_before;
    assert_eq!(out, 10, "the client's sidecar counts 10 outbound requests");
    assert_eq!(inbound, 10, "web's sidecar counts 10 inbound requests");

    let echo = get(cluster, &client, "http://web:9080/").await?;
    for header in PROXY_HEADERS {
        assert!(
            echo.headers.contains_key(header),
            "{header} added by a sidecar: {:?}",
            echo.headers
        );
    }
    Ok(())
}

/// Istio's `excludeOutboundPorts` / `excludeInboundPorts` annotations: the client's
/// No mTLS to `web`'s port 9080 (its sidecar does not see that port).
const WEB_9080_PLAINTEXT: &str = "
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: web-9080-plaintext, namespace: mesh}
    spec:
      host: web
      trafficPolicy:
        portLevelSettings:
        - port: {number: 9080}
          tls: {mode: DISABLE}
";

/// TCP to a VIP on an excluded port is not captured (and a VIP without its sidecar
/// goes nowhere), while its other ports still are; an HTTP request to the server's
/// excluded inbound port reaches the app without its sidecar seeing it.
pub async fn excluded_ports_bypass_the_sidecar<C: Cluster>(
    cluster: &mut C,
) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", WEB_SERVICE).await?;
    // What an Istio user must add with an excluded inbound port: the port's traffic
    // reaches the app without the sidecar, so clients must not send it mTLS (auto
    // mTLS would: the pod runs a sidecar).
    cluster
        .apply("web-9080-plaintext.yaml", WEB_9080_PLAINTEXT)
        .await?;
    let client = cluster
        .deploy(
            PodSpec::sample_app("client-0", NAMESPACE, "client", "v1", &[])
                .annotation(EXCLUDE_OUTBOUND_PORTS, "9000"),
        )
        .await?;
    let outside = cluster
        .deploy(PodSpec::sample_app("outside-0", NAMESPACE, "outside", "v1", &[]).sidecar(false))
        .await?;
    let server = deploy_synced(
        cluster,
        PodSpec::sample_app("web-v1-0", NAMESPACE, "web", "v1", &[])
            .annotation(EXCLUDE_INBOUND_PORTS, "9080"),
    )
    .await?;

    let via_vip = tcp(cluster, &client, "web:9000").await?;
    assert!(
        !via_vip.success(),
        "9000 is excluded: the VIP must not be reachable without the sidecar: {via_vip:?}"
    );
    let direct = tcp(cluster, &client, &addr(server.ip, 9000)).await?;
    assert_eq!(
        direct.stdout.lines().next(),
        Some("HELLO web v1"),
        "{direct:?}"
    );
    let http = cluster.request(&client, "http://web:9080/", &[]).await?;
    assert_eq!(
        http.workload_count("web/v1"),
        1,
        "9080 is still captured: {http}"
    );

    let before = proxy_counter(cluster, &server, INBOUND_9080).await?;
    let url = format!("http://{}/", addr(server.ip, 9080));
    let echo = get(cluster, &outside, &url).await?;
    for header in PROXY_HEADERS {
        assert!(
            !echo.headers.contains_key(header),
            "9080 is excluded inbound: no sidecar adds {header}: {:?}",
            echo.headers
        );
    }
    let after = proxy_counter(cluster, &server, INBOUND_9080).await?;
    assert_eq!(
        after, before,
        "web's sidecar saw nothing on its excluded port"
    );
    Ok(())
}

/// `mesh-sample-app get URL` in `pod`, its body read as the sample app's answer.
pub async fn get<C: Cluster>(
    cluster: &C,
    pod: &PodRef,
    url: &str,
) -> Result<EchoReply, ClusterError> {
    let argv = [SAMPLE_APP, "get", url];
    let out = cluster.exec(pod, &argv).await?;
    serde_json::from_str(&out.stdout).map_err(|e| ClusterError::Client {
        pod: pod.to_string(),
        command: argv.join(" "),
        detail: format!(
            "not a sample app's answer ({e}); exit status {}, stderr: {}",
            out.status,
            out.stderr.trim()
        ),
    })
}

/// A short TCP session (2 s timeout, so an unreachable address fails fast).
async fn tcp<C: Cluster>(
    cluster: &C,
    pod: &PodRef,
    target: &str,
) -> Result<ExecOutput, ClusterError> {
    cluster
        .exec(pod, &[SAMPLE_APP, "tcp", target, "--timeout", "2s"])
        .await
}

fn addr(ip: IpAddr, port: u16) -> String {
    SocketAddr::new(ip, port).to_string()
}
