//! Port-forwards through the API server, as `kubectl port-forward`: a listener on
//! 127.0.0.1 whose every connection becomes a port-forward stream to a pod's port.
//! The synchronous HTTP clients of meshctl (the debug client, the admin reader) then
//! connect to that local address unchanged. The listener runs on a thread of its
//! own, with its own runtime and kube client, until meshctl exits.

use std::net::SocketAddr;
use std::sync::mpsc;

use anyhow::{Context as _, anyhow, bail};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::cluster::{ClusterArgs, api_error, runtime};

/// The label every mesh-control pod carries (charts/mesh-control `selectorLabels`).
pub(crate) const CONTROL_PLANE_SELECTOR: &str = "app.kubernetes.io/name=mesh-control";

/// Which pod to forward to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A ready mesh-control pod of the mesh namespace.
    ControlPlane,
    /// A pod; without a namespace, the one `-n` or the context names.
    Pod {
        name: String,
        namespace: Option<String>,
    },
}

/// Why no forward was started.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// No cluster, or no such pod: the caller may try elsewhere.
    #[error("{0:#}")]
    Unusable(anyhow::Error),
    /// The pod is there but the API server did not forward to it.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

/// A running forward: connect to `address` to reach `pod`'s port.
#[derive(Debug, Clone)]
pub(crate) struct LocalForward {
    pub(crate) address: SocketAddr,
    /// `name.namespace` of the pod, for messages.
    pub(crate) pod: String,
}

/// Finds the pod and starts forwarding `port` to it; returns once the listener is
/// bound (or the pod could not be found).
pub(crate) fn start(
    cluster: &ClusterArgs,
    target: Target,
    port: u16,
) -> Result<LocalForward, StartError> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let cluster = cluster.clone();
    std::thread::Builder::new()
        .name("port-forward".to_string())
        .spawn(move || {
            let runtime = match runtime() {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(StartError::Failed(e)));
                    return;
                }
            };
            runtime.block_on(serve(cluster, target, port, ready_tx));
        })
        .context("cannot start the port-forward thread")
        .map_err(StartError::Failed)?;
    ready_rx.recv().map_err(|_| {
        StartError::Failed(anyhow!(
            "the port-forward thread stopped before it was ready"
        ))
    })?
}

/// Binds the listener, reports it, then forwards every connection until exit.
async fn serve(
    cluster: ClusterArgs,
    target: Target,
    port: u16,
    ready: mpsc::Sender<Result<LocalForward, StartError>>,
) {
    let setup = async {
        let connected = cluster.connect().await.map_err(StartError::Unusable)?;
        let (name, namespace) = match target {
            Target::ControlPlane => {
                let ns = connected.mesh_namespace.clone();
                let pod = control_plane_pod(&connected.client, &ns)
                    .await
                    .map_err(StartError::Unusable)?;
                (pod, ns)
            }
            Target::Pod { name, namespace } => (
                name,
                namespace.unwrap_or_else(|| connected.namespace.clone()),
            ),
        };
        let pods: Api<Pod> = Api::namespaced(connected.client, &namespace);
        // One forward up front, so that a pod the API server cannot reach is an
        // error here rather than a connection reset later.
        probe(&pods, &name, port)
            .await
            .map_err(StartError::Failed)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1 for the port-forward")
            .map_err(StartError::Failed)?;
        let address = listener
            .local_addr()
            .context("the port-forward listener has no address")
            .map_err(StartError::Failed)?;
        Ok((listener, pods, name, namespace, address))
    };
    let (listener, pods, name, namespace, address) = match setup.await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let pod = format!("{name}.{namespace}");
    if ready
        .send(Ok(LocalForward {
            address,
            pod: pod.clone(),
        }))
        .is_err()
    {
        return;
    }
    while let Ok((socket, _)) = listener.accept().await {
        let (pods, name, pod) = (pods.clone(), name.clone(), pod.clone());
        tokio::spawn(async move {
            if let Err(e) = forward(&pods, &name, port, socket).await {
                eprintln!("warning: port-forward to {pod}:{port} failed: {e:#}");
            }
        });
    }
}

/// Opens and closes one forward to `name`'s `port`.
async fn probe(pods: &Api<Pod>, name: &str, port: u16) -> anyhow::Result<()> {
    let mut forwarder = pods
        .portforward(name, &[port])
        .await
        .map_err(|e| api_error(&format!("port-forward to pod {name}:{port}"), e))?;
    drop(forwarder.take_stream(port));
    forwarder.abort();
    Ok(())
}

/// One local connection, relayed over a port-forward stream of its own.
async fn forward(pods: &Api<Pod>, name: &str, port: u16, socket: TcpStream) -> anyhow::Result<()> {
    let mut forwarder = pods
        .portforward(name, &[port])
        .await
        .map_err(|e| api_error(&format!("port-forward to pod {name}"), e))?;
    let upstream = forwarder
        .take_stream(port)
        .ok_or_else(|| anyhow!("the API server gave no stream for port {port}"))?;
    relay(socket, upstream).await;
    // The exchange is over; closing a stream the pod side already closed is an error
    // to kube, and of no interest to the user.
    let _ = forwarder.join().await;
    Ok(())
}

/// Copies both ways until either side closes.
pub(crate) async fn relay<A, B>(mut local: A, mut remote: B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    // A reset on either side ends the relay; the client sees the closed connection.
    let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
}

/// A ready mesh-control pod of `namespace` (the newest, as kubectl picks for
/// `deploy/…`), or an error that says what to check.
pub(crate) async fn control_plane_pod(client: &Client, namespace: &str) -> anyhow::Result<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(CONTROL_PLANE_SELECTOR))
        .await
        .map_err(|e| api_error(&format!("list the mesh-control pods in {namespace}"), e))?;
    if list.items.is_empty() {
        bail!(
            "no mesh-control pod in namespace {namespace}; is mesh installed (`meshctl install`)? \
             pass --mesh-namespace if it is elsewhere, or --control-plane HOST:PORT"
        );
    }
    choose_ready(&list.items).ok_or_else(|| {
        anyhow!(
            "no mesh-control pod in {namespace} is ready; check `kubectl -n {namespace} get pods \
             -l {CONTROL_PLANE_SELECTOR}`"
        )
    })
}

/// The newest running, ready pod.
pub(crate) fn choose_ready(pods: &[Pod]) -> Option<String> {
    pods.iter()
        .filter(|p| is_ready(p))
        .max_by_key(|p| p.creation_timestamp())
        .map(|p| p.name_any())
}

fn is_ready(pod: &Pod) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    status.phase.as_deref() == Some("Running")
        && status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod through_api;
