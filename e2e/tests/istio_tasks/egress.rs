//! ServiceEntries (STATIC, DNS) and Sidecar egress scoping.

use super::*;

/// A port on 127.0.0.1 that was free a moment ago.
fn free_local_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_entries_with_static_and_dns_resolution_reach_their_endpoints_under_registry_only()
{
    let mut mesh = mesh_or_skip!(
        "service_entries_with_static_and_dns_resolution_reach_their_endpoints_under_registry_only"
    );
    let static_ip = mesh.allocate_ip();
    let static_addr: SocketAddr = format!("{static_ip}:8080").parse().expect("address");
    let _static_echo = EchoServer::start("static-backend", static_addr)
        .await
        .unwrap_or_else(|e| panic!("echo on {static_addr}: {e}"));
    // `localhost` resolves here: the DNS endpoint is 127.0.0.1 on a port of its own.
    let dns_port = free_local_port();
    let dns_addr = SocketAddr::from(([127, 0, 0, 1], dns_port));
    let _dns_echo = EchoServer::start("dns-backend", dns_addr)
        .await
        .unwrap_or_else(|e| panic!("echo on {dns_addr}: {e}"));
    mesh.apply(
        "service-entries.yaml",
        &format!(
            "
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata:
              name: external-svc-static
              namespace: e2e
            spec:
              hosts:
              - static.example.com
              location: MESH_EXTERNAL
              ports:
              - number: 8080
                name: http
                protocol: HTTP
              resolution: STATIC
              endpoints:
              - address: {static_ip}
            ---
            apiVersion: networking.istio.io/v1beta1
            kind: ServiceEntry
            metadata:
              name: external-svc-dns
              namespace: e2e
            spec:
              hosts:
              - dns.example.com
              location: MESH_EXTERNAL
              ports:
              - number: 8080
                name: http
                protocol: HTTP
              resolution: DNS
              endpoints:
              - address: localhost
                ports:
                  http: {dns_port}
            ---
            apiVersion: networking.istio.io/v1
            kind: VirtualService
            metadata:
              name: dns-ext
              namespace: e2e
            spec:
              hosts:
                - dns.example.com
              http:
              - timeout: 300ms
                route:
                  - destination:
                      host: dns.example.com
                    weight: 100
            "
        ),
    );
    // Istio's egress task: with REGISTRY_ONLY only hosts with a ServiceEntry are reached.
    mesh.apply(
        "client.yaml",
        &registry_only_client(&mesh, "{number: 8080, protocol: HTTP, name: http}", "[./*]"),
    );
    mesh.start_client(false).await;
    mesh.wait_routed_to(&Call::get("static.example.com", "/"), "static-backend")
        .await;
    mesh.wait_routed_to(&Call::get("dns.example.com", "/"), "dns-backend")
        .await;
    let clusters = mesh
        .client()
        .admin("/clusters")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        clusters.contains(&format!(
            "outbound|8080||dns.example.com::127.0.0.1:{dns_port}"
        )),
        "the DNS cluster resolved localhost to 127.0.0.1:{dns_port}:\n{clusters}"
    );

    let slow = Call::get("dns.example.com", "/delay/5").header(DELAY_REQUEST_HEADER, "1500");
    let reply = mesh.reply(&slow).await;
    assert_eq!(
        reply.status, 504,
        "the VirtualService's timeout applies to an external host"
    );
    assert!(
        reply.elapsed >= Duration::from_millis(290) && reply.elapsed < Duration::from_millis(1400),
        "timed out after {:?}",
        reply.elapsed
    );
    let unknown = mesh.reply(&Call::get("unknown.example.com", "/")).await;
    assert_eq!(
        unknown.status, 502,
        "REGISTRY_ONLY refuses a host without a ServiceEntry: {}",
        unknown.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecar_egress_hosts_give_the_client_reviews_but_not_ratings() {
    let mut mesh = mesh_or_skip!("sidecar_egress_hosts_give_the_client_reviews_but_not_ratings");
    bookinfo(&mut mesh).await;
    // Istio's example: the client only reaches reviews in its own namespace. Under
    // REGISTRY_ONLY a host outside the registry is refused (502) rather than passed
    // through.
    mesh.apply(
        "client.yaml",
        &registry_only_client(
            &mesh,
            "{number: 8080, protocol: HTTP, name: http}",
            "[./reviews.e2e.svc.cluster.local]",
        ),
    );
    mesh.start_client(true).await;
    mesh.wait_routed_to(&mesh.get("reviews", "/"), "reviews-v1")
        .await;
    let clusters = mesh
        .client()
        .admin("/clusters")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        clusters.contains("outbound|8080||reviews.e2e.svc.cluster.local::"),
        "a cluster for reviews:\n{clusters}"
    );
    for other in ["ratings", "details", "productpage"] {
        assert!(
            !clusters.contains(&format!("{other}.e2e.svc.cluster.local")),
            "no cluster for {other}:\n{clusters}"
        );
    }
    let reply = mesh.reply(&mesh.get("ratings", "/")).await;
    assert_eq!(
        reply.status, 502,
        "ratings is not in the client's registry (REGISTRY_ONLY): {}",
        reply.body
    );
    assert_eq!(mesh.echo("ratings-v1").requests(), 0);
}

/// The client starts with every service of its namespace, then its Sidecar is narrowed
/// to reviews: the clusters of the others are removed from the running Envoy (over
/// Delta, `removed_resources`) and ratings is no longer routed.
async fn narrowed_sidecar_removes_clusters(test: &str, delta: bool) {
    let mut mesh = mesh_or_skip!(test);
    bookinfo(&mut mesh).await;
    mesh.start_client(delta).await;
    mesh.wait_routed_to(&mesh.get("ratings", "/"), "ratings-v1")
        .await;
    mesh.apply(
        "client.yaml",
        &registry_only_client(
            &mesh,
            "{number: 8080, protocol: HTTP, name: http}",
            "[./reviews.e2e.svc.cluster.local]",
        ),
    );
    let clusters = eventually(
        "the clusters of ratings, details and productpage to go",
        CONFIG_DEADLINE,
        || async {
            let clusters = mesh.client().admin("/clusters").await?;
            let left: Vec<&str> = ["ratings", "details", "productpage"]
                .into_iter()
                .filter(|s| clusters.contains(&format!("|{s}.e2e.svc.cluster.local::")))
                .collect();
            if left.is_empty() {
                Ok(clusters)
            } else {
                Err(format!("still there: {left:?}"))
            }
        },
    )
    .await;
    assert!(
        clusters.contains("outbound|8080||reviews.e2e.svc.cluster.local::127."),
        "reviews stays, with its endpoints:\n{clusters}"
    );
    let before = mesh.echo("ratings-v1").requests();
    mesh.wait_status(&mesh.get("ratings", "/"), 502).await;
    assert_eq!(mesh.echo("ratings-v1").requests(), before);
    let reviews = mesh.answered_by(&mesh.get("reviews", "/")).await;
    assert!(reviews.starts_with("reviews-"), "answered by {reviews}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_sidecar_removes_other_services_clusters_over_sotw() {
    narrowed_sidecar_removes_clusters(
        "narrowed_sidecar_removes_other_services_clusters_over_sotw",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_sidecar_removes_other_services_clusters_over_delta_xds() {
    narrowed_sidecar_removes_clusters(
        "narrowed_sidecar_removes_other_services_clusters_over_delta_xds",
        true,
    )
    .await;
}
