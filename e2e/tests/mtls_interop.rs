//! The interop matrix on the local cluster: mesh-proxy and real Envoy sidecars, with
//! certificates from mesh-control's CA (`mesh-proxy run --token-file --root-cert`,
//! Envoy through `mesh-proxy agent` over SDS), STRICT mTLS mesh-wide; every client
//! proxy to every server proxy for HTTP/1.1, gRPC and TCP (`e2e::scenarios::mtls`).
//!
//! Needs root, `ip`, `ss`, `setpriv`, iptables and Envoy (CI runs as root and
//! installs them); run by hand without them it prints why it skipped.

use e2e::cluster::LocalCluster;
use e2e::prerequisites::{self, Prerequisite, SIDECAR_PODS};
use e2e::scenarios::mtls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_proxy_reaches_every_server_proxy_over_strict_mtls() {
    if !prerequisites::met(SIDECAR_PODS) || !prerequisites::met(&[Prerequisite::Envoy]) {
        return;
    }
    let mut cluster = LocalCluster::start()
        .await
        .expect("the local cluster starts");
    mtls::interop_matrix(&mut cluster)
        .await
        .expect("the interop matrix");
}
