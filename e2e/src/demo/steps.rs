//! The walk-through: Istio's Bookinfo tasks (request routing, traffic shifting, retries)
//! on the demo app, each step applying its YAML, waiting until every proxy has it and
//! measuring what the traffic did. Written against [`Cluster`], like the scenarios.

use std::time::{Duration, Instant};

use mesh_sample_app::Summary;

use super::app::{Bookinfo, FRONTEND_URL};
use super::report::{failed_calls, indented_yaml, table};
use crate::cluster::{Cluster, ClusterError, Pod, sync};

/// How long a config change may take to reach every proxy before the demo gives up.
const PUSH_TIMEOUT: Duration = Duration::from_secs(20);

/// Istio's `destination-rule-all.yaml`, for our hosts: subsets by the `version` label.
const DESTINATION_RULES: &str = "
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      host: reviews
      subsets:
      - {name: v1, labels: {version: v1}}
      - {name: v2, labels: {version: v2}}
      - {name: v3, labels: {version: v3}}
    ---
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: ratings, namespace: bookinfo}
    spec:
      host: ratings
      subsets:
      - {name: v1, labels: {version: v1}}
";

/// Istio's `virtual-service-all-v1.yaml` (the reviews part).
const REVIEWS_ALL_V1: &str = "
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination: {host: reviews, subset: v1}
";

/// Traffic shifting: 80% to v1, 20% to v3.
const REVIEWS_80_20: &str = "
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination: {host: reviews, subset: v1}
          weight: 80
        - destination: {host: reviews, subset: v3}
          weight: 20
";

/// Istio's `virtual-service-reviews-test-v2.yaml`: user jason sees v2.
const REVIEWS_JASON_V2: &str = "
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      hosts: [reviews]
      http:
      - match:
        - headers:
            end-user: {exact: jason}
        route:
        - destination: {host: reviews, subset: v2}
      - route:
        - destination: {host: reviews, subset: v1}
";

/// Istio's `virtual-service-reviews-v3.yaml`: every request now calls ratings.
const REVIEWS_V3: &str = "
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      hosts: [reviews]
      http:
      - route:
        - destination: {host: reviews, subset: v3}
";

/// Retries for ratings, as Istio's retry example, with 5 attempts on any 5xx: with a
/// quarter of the answers failing, 6 failures in a row are rare enough (0.02%) that
/// the demo shows none.
const RATINGS_RETRIES: &str = "
    apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: ratings, namespace: bookinfo}
    spec:
      hosts: [ratings]
      http:
      - route:
        - destination: {host: ratings, subset: v1}
        retries: {attempts: 5, perTryTimeout: 2s, retryOn: 5xx}
";

/// Mutual TLS required mesh-wide (the root namespace's policy).
const STRICT_MTLS: &str = "
    apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: default, namespace: mesh-system}
    spec:
      mtls: {mode: STRICT}
";

/// Runs every step, `requests` requests per measurement.
pub(super) async fn walk<C: Cluster>(
    cluster: &mut C,
    app: &mut Bookinfo,
    requests: u64,
) -> Result<(), ClusterError> {
    let third = 1.0 / 3.0;
    heading(
        "1",
        "No rules yet: each request goes to any version of reviews",
    );
    say("Every proxy balances over all the endpoints of a Service, as Kubernetes would.");
    let baseline = measure(cluster, app, requests, &[]).await?;
    print!(
        "{}",
        table(
            &baseline,
            "reviews",
            &[("v1", third), ("v2", third), ("v3", third)]
        )
    );

    heading("2", "All traffic to reviews v1");
    say("Subsets name the versions; a VirtualService sends reviews to v1 only.");
    apply(cluster, "destination-rules.yaml", DESTINATION_RULES).await?;
    apply(cluster, "reviews.yaml", REVIEWS_ALL_V1).await?;
    let all_v1 = measure(cluster, app, requests, &[]).await?;
    print!("{}", table(&all_v1, "reviews", &[("v1", 1.0)]));

    heading("3", "Shift 20% of the traffic to reviews v3");
    apply(cluster, "reviews.yaml", REVIEWS_80_20).await?;
    let split = measure(cluster, app, requests, &[]).await?;
    print!("{}", table(&split, "reviews", &[("v1", 0.8), ("v3", 0.2)]));
    say("The tolerance is three standard deviations of a fair 80/20 draw.");

    heading(
        "4",
        "Route by user: jason sees reviews v2, everyone else v1",
    );
    apply(cluster, "reviews.yaml", REVIEWS_JASON_V2).await?;
    say("With the header end-user: jason");
    let jason = measure(cluster, app, requests, &["-H", "end-user:jason"]).await?;
    print!("{}", table(&jason, "reviews", &[("v2", 1.0)]));
    say("Without it");
    let others = measure(cluster, app, requests, &[]).await?;
    print!("{}", table(&others, "reviews", &[("v1", 1.0)]));

    heading(
        "5",
        "ratings fails a quarter of its requests; retries hide it",
    );
    say("reviews v3 calls ratings on every request; send everyone there first.");
    apply(cluster, "reviews.yaml", REVIEWS_V3).await?;
    say("Then a ratings build that answers every fourth request with HTTP 500 goes out");
    say("(500 rather than 503: Istio's default retry policy already retries 503 twice).");
    let before = sync::config_version(cluster).await?;
    app.replace_ratings(
        cluster,
        "ratings-v1-1",
        &["--fail-rate", "0.25", "--fail-status", "500"],
    )
    .await?;
    sync::wait_synced(cluster, before, PUSH_TIMEOUT).await?;
    let failing = measure(cluster, app, requests, &[]).await?;
    print!("{}", table(&failing, "reviews", &[("v3", 1.0)]));
    say(&format!(
        "{} of {} pages came back without ratings (reviews got a 500 from ratings).",
        failed_calls(&failing),
        failing.requests
    ));
    apply(cluster, "ratings.yaml", RATINGS_RETRIES).await?;
    let v3 = app
        .reviews
        .iter()
        .find(|p| p.name.starts_with("reviews-v3"));
    let retries_before = retries(cluster, v3).await;
    let retried = measure(cluster, app, requests, &[]).await?;
    let retries_after = retries(cluster, v3).await;
    print!("{}", table(&retried, "reviews", &[("v3", 1.0)]));
    say(&format!(
        "Failed calls to ratings: {} before the retry policy, {} after: reviews-v3's sidecar \
         retried {} times,\n  at the price of latency (p99 {:.1} ms → {:.1} ms).",
        failed_calls(&failing),
        failed_calls(&retried),
        retries_after.saturating_sub(retries_before),
        failing.latency_ms.p99,
        retried.latency_ms.p99
    ));

    mutual_tls(cluster, app, requests).await
}

/// Step 6: STRICT mTLS. Meshed calls go on (the sidecars already spoke mTLS to each
/// other: auto mTLS), the app sees who called it, a pod outside the mesh is refused.
async fn mutual_tls<C: Cluster>(
    cluster: &mut C,
    app: &Bookinfo,
    requests: u64,
) -> Result<(), ClusterError> {
    heading("6", "Mutual TLS: STRICT on; outsiders are refused");
    say("Every sidecar holds a certificate from mesh-control's CA for its service account:");
    let certs = cluster.proxy_admin(&app.client, "/certs").await?;
    say(&format!(
        "  {}: {}",
        app.client.name,
        certificate_summary(&certs)
    ));
    say("Sidecars already use mTLS with each other (auto mTLS); now require it everywhere.");
    apply(cluster, "peer-authentication.yaml", STRICT_MTLS).await?;
    let strict = measure(cluster, app, requests, &[]).await?;
    print!("{}", table(&strict, "reviews", &[("v3", 1.0)]));
    let out = cluster
        .exec(
            &app.client,
            &[crate::cluster::SAMPLE_APP, "get", FRONTEND_URL],
        )
        .await?;
    let caller = serde_json::from_str::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|reply| {
            let xfcc = reply["headers"]["x-forwarded-client-cert"]
                .as_str()?
                .to_string();
            xfcc.split(';')
                .find_map(|kv| kv.strip_prefix("URI=").map(str::to_string))
        })
        .unwrap_or_else(|| "nobody (no x-forwarded-client-cert)".to_string());
    say(&format!("frontend sees its caller as {caller}"));
    let outsider = crate::cluster::PodSpec::sample_app(
        "outsider-0",
        super::app::NAMESPACE,
        "outsider",
        "v1",
        &[],
    )
    .sidecar(false);
    let outsider = cluster.deploy(outsider).await?;
    let url = format!("http://{}:9080/", app.frontend.ip);
    let refused = cluster
        .exec(&outsider, &[crate::cluster::SAMPLE_APP, "get", &url])
        .await?;
    if refused.status == 0 {
        return Err(ClusterError::Client {
            pod: outsider.name.clone(),
            command: format!("get {url}"),
            detail: "a pod outside the mesh was served in plain text under STRICT mTLS".to_string(),
        });
    }
    say(&format!(
        "{} (no sidecar) calling frontend's pod IP in plain text: refused ({})",
        outsider.name,
        refused.stderr.trim()
    ));
    cluster.remove(&outsider).await?;
    Ok(())
}

/// `spiffe://…, serial …, valid until …` from a proxy's `/certs` (Envoy's shape).
fn certificate_summary(certs: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(certs).unwrap_or_default();
    let chain = &json["certificates"][0]["cert_chain"][0];
    let id = chain["subject_alt_names"]
        .as_array()
        .and_then(|sans| sans.iter().find_map(|s| s["uri"].as_str()))
        .unwrap_or("?");
    format!(
        "{id}, serial {}, valid until {}",
        chain["serial_number"].as_str().unwrap_or("?"),
        chain["expiration_time"].as_str().unwrap_or("?")
    )
}

/// Prints the YAML, applies it and waits until every proxy has ACKed it.
async fn apply<C: Cluster>(cluster: &mut C, file: &str, yaml: &str) -> Result<(), ClusterError> {
    println!("  apply {file}:");
    print!("{}", indented_yaml(yaml));
    let started = Instant::now();
    let before = sync::config_version(cluster).await?;
    cluster.apply(file, yaml).await?;
    let synced = sync::wait_synced(cluster, before, PUSH_TIMEOUT).await?;
    say(&format!(
        "pushed to all {} proxies and acknowledged in {:.2}s",
        synced.proxies,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `requests` requests from the client pod to the frontend, 4 at a time.
async fn measure<C: Cluster>(
    cluster: &C,
    app: &Bookinfo,
    requests: u64,
    extra: &[&str],
) -> Result<Summary, ClusterError> {
    let n = requests.to_string();
    let mut args = vec!["-n", n.as_str(), "-c", "4"];
    args.extend_from_slice(extra);
    println!(
        "  {requests} requests from {} to {FRONTEND_URL}{}",
        app.client.name,
        extra.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    cluster.request(&app.client, FRONTEND_URL, &args).await
}

/// The sidecar's `cluster_manager.upstream_rq_retry` counter (0 when unreadable: it
/// only decorates the story).
async fn retries<C: Cluster>(cluster: &C, pod: Option<&Pod>) -> u64 {
    let Some(pod) = pod else { return 0 };
    let stats = cluster.proxy_admin(pod, "/stats").await.unwrap_or_default();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cluster_manager.upstream_rq_retry: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn heading(number: &str, title: &str) {
    let rule = "─".repeat(72usize.saturating_sub(title.chars().count() + 8));
    println!("\n── {number} · {title} {rule}");
}

fn say(text: &str) {
    println!("  {text}");
}
