//! What a sidecar must carry between two meshed pods without the apps noticing:
//! HTTP/1.1, HTTP/2 with prior knowledge (h2c), gRPC, and a server-first TCP protocol
//! (the server speaks first, so protocol detection must give up waiting and proxy TCP).

use super::{WEB_SERVICE, client, web};
use crate::cluster::{Cluster, ClusterError};

/// HTTP/1.1, h2c, gRPC and the TCP banner from a meshed client to `web`'s VIP.
pub async fn http1_h2c_grpc_and_tcp_through_the_mesh<C: Cluster>(
    cluster: &mut C,
) -> Result<(), ClusterError> {
    cluster.apply("web.yaml", WEB_SERVICE).await?;
    let client = client(cluster).await?;
    web(cluster, "web-v1-0", "v1").await?;

    let http1 = cluster
        .request(&client, "http://web:9080/", &["-n", "20", "-c", "2"])
        .await?;
    assert_eq!(http1.workload_count("web/v1"), 20, "HTTP/1.1: {http1}");

    let h2c = cluster
        .request(
            &client,
            "http://web:9080/",
            &["-n", "20", "-c", "2", "--http2"],
        )
        .await?;
    assert_eq!(h2c.workload_count("web/v1"), 20, "h2c: {h2c}");

    let grpc = cluster
        .grpc(&client, "web:9090", &["-n", "20", "-c", "2"])
        .await?;
    assert_eq!(grpc.status_count("grpc 0"), 20, "gRPC: {grpc}");

    let tcp = cluster.tcp(&client, "web:9000", &["ping", "pong"]).await?;
    assert_eq!(
        tcp,
        ["HELLO web v1", "ping", "pong"],
        "the banner arrives first, then the echoes"
    );
    Ok(())
}
