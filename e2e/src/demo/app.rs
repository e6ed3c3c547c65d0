//! The demo's application, shaped like Istio's Bookinfo and built from the sample app:
//! `frontend` (productpage's role) calls `reviews`, whose v2 and v3 call `ratings`;
//! a `client` pod sends the traffic.

use std::io::Write;
use std::time::Instant;

use crate::cluster::{Cluster, ClusterError, Pod, PodSpec, sync};
use crate::scenarios::PUSH_TIMEOUT;

/// The namespace everything lives in.
pub const NAMESPACE: &str = "bookinfo";
/// What the client calls: the front of the chain.
pub const FRONTEND_URL: &str = "http://frontend:9080/";

/// The three Services; their clusterIPs are assigned when applied.
pub const SERVICES: &str = "
    apiVersion: v1
    kind: Service
    metadata: {name: frontend, namespace: bookinfo}
    spec:
      selector: {app: frontend}
      ports: [{name: http, port: 9080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      selector: {app: reviews}
      ports: [{name: http, port: 9080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: ratings, namespace: bookinfo}
    spec:
      selector: {app: ratings}
      ports: [{name: http, port: 9080}]
";

/// The deployed pods the walk-through refers to.
#[derive(Debug, Clone)]
pub struct Bookinfo {
    pub client: Pod,
    pub frontend: Pod,
    pub reviews: Vec<Pod>,
    pub ratings: Pod,
}

/// One pod of the app: name, `app` label, version, upstreams.
struct Member {
    name: &'static str,
    app: &'static str,
    version: &'static str,
    upstreams: &'static [&'static str],
}

const MEMBERS: [Member; 6] = [
    Member {
        name: "ratings-v1-0",
        app: "ratings",
        version: "v1",
        upstreams: &[],
    },
    Member {
        name: "reviews-v1-0",
        app: "reviews",
        version: "v1",
        upstreams: &[],
    },
    Member {
        name: "reviews-v2-0",
        app: "reviews",
        version: "v2",
        upstreams: &["http://ratings:9080"],
    },
    Member {
        name: "reviews-v3-0",
        app: "reviews",
        version: "v3",
        upstreams: &["http://ratings:9080"],
    },
    Member {
        name: "frontend-v1-0",
        app: "frontend",
        version: "v1",
        upstreams: &["http://reviews:9080"],
    },
    Member {
        name: "client-0",
        app: "client",
        version: "v1",
        upstreams: &[],
    },
];

impl Bookinfo {
    /// Applies the Services and starts every pod, one progress line each.
    pub async fn deploy<C: Cluster>(cluster: &mut C) -> Result<Bookinfo, ClusterError> {
        cluster.apply("services.yaml", SERVICES).await?;
        println!("  Services frontend, reviews and ratings (port 9080, HTTP)");
        let before = sync::config_version(cluster).await?;
        let mut pods = Vec::new();
        for m in &MEMBERS {
            let spec = pod_spec(m.name, m.app, m.version, m.upstreams, &[]);
            pods.push(deploy_with_progress(cluster, spec).await?);
        }
        // Ready pods are not yet endpoints everywhere: wait until every proxy knows them.
        sync::wait_synced(cluster, before, PUSH_TIMEOUT).await?;
        let mut reviews: Vec<Pod> = Vec::new();
        let (mut client, mut frontend, mut ratings) = (None, None, None);
        for (pod, m) in pods.into_iter().zip(&MEMBERS) {
            match m.app {
                "client" => client = Some(pod),
                "frontend" => frontend = Some(pod),
                "ratings" => ratings = Some(pod),
                _ => reviews.push(pod),
            }
        }
        match (client, frontend, ratings) {
            (Some(client), Some(frontend), Some(ratings)) => Ok(Bookinfo {
                client,
                frontend,
                reviews,
                ratings,
            }),
            _ => Err(ClusterError::Command {
                command: "deploy the demo app".to_string(),
                detail: "a pod of the app is missing; this is a bug in the demo".to_string(),
            }),
        }
    }

    /// Replaces the ratings pod by `name` started with `args` (e.g. a failure rate).
    pub async fn replace_ratings<C: Cluster>(
        &mut self,
        cluster: &mut C,
        name: &str,
        args: &[&str],
    ) -> Result<(), ClusterError> {
        let spec = pod_spec(name, "ratings", "v1", &[], args);
        let new = deploy_with_progress(cluster, spec).await?;
        cluster.remove(&self.ratings).await?;
        println!("  removed {} (drained first)", self.ratings.name);
        self.ratings = new;
        Ok(())
    }
}

fn pod_spec(name: &str, app: &str, version: &str, upstreams: &[&str], args: &[&str]) -> PodSpec {
    PodSpec::sample_app(name, NAMESPACE, app, version, upstreams)
        .service_account(&format!("bookinfo-{app}"))
        .args(args)
}

/// Deploys `spec`, printing the pod's name first and its address and start time after.
pub async fn deploy_with_progress<C: Cluster>(
    cluster: &mut C,
    spec: PodSpec,
) -> Result<Pod, ClusterError> {
    let started = Instant::now();
    let what = if spec.sidecar {
        "sidecar ready, app listening"
    } else {
        "app listening (no sidecar)"
    };
    print!("  pod {:<15} ", spec.pod.name);
    let _ = std::io::stdout().flush();
    let pod = cluster.deploy(spec).await;
    match &pod {
        Ok(pod) => println!(
            "{:<11} {what}  {:.1}s",
            pod.ip,
            started.elapsed().as_secs_f64()
        ),
        Err(_) => println!("failed"),
    }
    pod
}
