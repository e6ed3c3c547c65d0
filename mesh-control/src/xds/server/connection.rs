//! One ADS stream, whichever the protocol: read the node from the first request,
//! register the proxy, then answer requests and pushes in order until the stream ends.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{ControlPlane, Node};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tonic::Status;
use tonic::codegen::Bytes;

use super::Shared;
use super::grpc::{RequestStream, encode_message};
use super::push::proxy_snapshot;
use super::registry::{AdsProtocolKind, SyncStatus};
use super::snapshot::ProxySnapshot;
use super::xds_type::XdsType;
use crate::ca::auth::{Caller, authorize_node};
use crate::config::ConfigSnapshot;
use crate::xds::node::ProxyNode;

/// Responses queued per connection before the connection waits for the proxy.
const RESPONSE_QUEUE: usize = 8;

/// How many proxies may have a large push (or their initial config) unanswered at
/// once (Istio's PILOT_PUSH_THROTTLE plays the same role). A push of 1,000 services
/// is megabytes per proxy: a thousand at once would be gigabytes of buffers.
pub(crate) const PUSH_SLOTS: usize = 16;

/// Pushes smaller than this (endpoint changes, typically) do not keep a slot.
const LARGE_PUSH_BYTES: usize = 64 * 1024;

/// A slot is given back after this long even if the proxy has not answered.
const PUSH_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The protocol-specific part of a connection: a state machine without I/O.
pub(crate) trait AdsProtocol: Send + Sized + 'static {
    type Request: prost::Message + Default + Send + 'static;
    type Response: prost::Message + Send + 'static;
    const KIND: AdsProtocolKind;

    fn node(request: &Self::Request) -> Option<&Node>;
    fn type_url(response: &Self::Response) -> &str;
    /// The bytes of the resources a response carries.
    fn size(response: &Self::Response) -> usize;
    fn new(proxy: Arc<ProxyNode>, snapshot: Arc<ProxySnapshot>) -> Self;
    /// Handles a request: a subscription, an ACK or a NACK.
    fn on_request(&mut self, request: Self::Request) -> Vec<Self::Response>;
    /// Takes the proxy's resources for a new config and says what to push.
    fn on_snapshot(&mut self, snapshot: Arc<ProxySnapshot>) -> Vec<Self::Response>;
    fn status(&self) -> &SyncStatus;
    /// The proxy's current resources: the next push is made from them.
    fn snapshot(&self) -> &Arc<ProxySnapshot>;
}

/// Reads the first request, checks the node (and, with a `caller`, that the node is
/// the caller's proven identity) and starts the connection's task.
pub(crate) async fn accept<P: AdsProtocol>(
    shared: Arc<Shared>,
    caller: Option<Caller>,
    mut requests: RequestStream<P::Request>,
) -> Result<mpsc::Receiver<Result<Bytes, Status>>, Status> {
    let Some(first) = requests.message().await? else {
        return Err(Status::cancelled(
            "the ADS stream ended before its first request",
        ));
    };
    let node = Arc::new(proxy_node(P::node(&first))?);
    if let Some(caller) = &caller {
        authorize_node(caller, &node).inspect_err(|status| {
            tracing::warn!(proxy = %node, reason = status.message(), "ADS stream refused");
        })?;
    }
    let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
    tokio::spawn(run::<P>(shared, node, first, requests, tx));
    Ok(rx)
}

/// Parses the xDS node of the first request into the proxy's identity.
pub(crate) fn proxy_node(node: Option<&Node>) -> Result<ProxyNode, Status> {
    let Some(node) = node.filter(|n| !n.id.is_empty()) else {
        return Err(Status::invalid_argument(
            "the first request of an ADS stream must carry the node id and metadata; \
             generate the proxy's bootstrap with `meshctl bootstrap envoy`",
        ));
    };
    let metadata = node
        .metadata
        .as_ref()
        .map_or(serde_json::Value::Null, struct_to_json);
    ProxyNode::parse(&node.id, &metadata).map_err(|e| Status::invalid_argument(e.to_string()))
}

/// A nonce no other response of this control plane has used.
pub(crate) fn next_nonce() -> String {
    static NONCES: AtomicU64 = AtomicU64::new(1);
    NONCES.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Identifies this control plane in responses (Envoy shows it in its config dump).
pub(crate) fn control_plane() -> Option<ControlPlane> {
    Some(ControlPlane {
        identifier: format!("mesh-control {}", env!("CARGO_PKG_VERSION")),
    })
}

async fn run<P: AdsProtocol>(
    shared: Arc<Shared>,
    node: Arc<ProxyNode>,
    first: P::Request,
    mut requests: RequestStream<P::Request>,
    tx: mpsc::Sender<Result<Bytes, Status>>,
) {
    static CONNECTIONS: AtomicU64 = AtomicU64::new(1);
    let id = format!(
        "{}-{}",
        node.short_name(),
        CONNECTIONS.fetch_add(1, Ordering::Relaxed)
    );
    let registration = shared.registry.register(id.clone(), node.clone(), P::KIND);
    tracing::info!(proxy = %node, connection = %id, protocol = ?P::KIND, "proxy connected");
    let mut pushes = shared.pushes.clone();
    let mut stop = shared.stop.subscribe();
    // The initial config is a large push too.
    let Ok(permit) = shared.push_slots.clone().acquire_owned().await else {
        return;
    };
    let mut slot = Some((permit, Instant::now()));
    let config = pushes.borrow_and_update().clone();
    let snapshot = match proxy_snapshot(&shared, &config, &node, None).await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            // Better no config than an empty one that would tear down the proxy's.
            tracing::error!(proxy = %node, connection = %id, %error, "cannot translate config for proxy; closing its stream");
            let _ = tx.send(Err(Status::internal(error))).await;
            return;
        }
    };
    let mut state = P::new(node.clone(), snapshot);
    let mut responses = state.on_request(first);
    let reason: Cow<'static, str> = loop {
        if !send_all(&tx, responses).await {
            break "the proxy went away".into();
        }
        registration.connection.set_status(state.status());
        if !awaiting_answers(state.status()) {
            slot = None;
        }
        let slot_deadline = slot.as_ref().map(|(_, since)| *since + PUSH_ANSWER_TIMEOUT);
        responses = tokio::select! {
            request = requests.message() => match request {
                Ok(Some(request)) => state.on_request(request),
                Ok(None) => break "the proxy closed the stream".into(),
                Err(status) => break format!("stream error: {}", status.message()).into(),
            },
            changed = pushes.changed() => {
                if changed.is_err() {
                    // The pusher also ends on shutdown; say which it was.
                    break if *stop.borrow() {
                        "the control plane is shutting down".into()
                    } else {
                        "the config source stopped".into()
                    };
                }
                let config = pushes.borrow_and_update().clone();
                let fresh = slot.is_none();
                if fresh {
                    let Ok(permit) = shared.push_slots.clone().acquire_owned().await else {
                        break "the control plane is shutting down".into();
                    };
                    slot = Some((permit, Instant::now()));
                }
                let responses = push(&shared, &mut state, &config, &node, &id).await;
                if fresh && responses.iter().map(P::size).sum::<usize>() < LARGE_PUSH_BYTES {
                    slot = None;
                }
                responses
            }
            () = sleep_until(slot_deadline) => {
                slot = None;
                Vec::new()
            }
            () = stopped(&mut stop) => break "the control plane is shutting down".into(),
        };
    };
    tracing::info!(proxy = %node, connection = %id, %reason, "proxy disconnected");
}

/// Translates a pushed config for the proxy and says what to send.
async fn push<P: AdsProtocol>(
    shared: &Arc<Shared>,
    state: &mut P,
    config: &Arc<ConfigSnapshot>,
    node: &Arc<ProxyNode>,
    id: &str,
) -> Vec<P::Response> {
    let previous = state.snapshot().clone();
    match proxy_snapshot(shared, config, node, Some(&previous)).await {
        Ok(snapshot) => {
            let responses = state.on_snapshot(snapshot);
            let types: Vec<&str> = responses
                .iter()
                .map(|r| XdsType::from_type_url(P::type_url(r)).map_or("?", XdsType::short_name))
                .collect();
            tracing::debug!(proxy = %node, connection = %id, config_version = config.version, ?types, "push");
            responses
        }
        Err(error) => {
            tracing::error!(proxy = %node, connection = %id, %error, "cannot translate config for proxy; it keeps its current config");
            Vec::new()
        }
    }
}

/// Whether a response is neither ACKed nor NACKed yet.
fn awaiting_answers(status: &SyncStatus) -> bool {
    status
        .types
        .iter()
        .any(|(_, t)| t.state() == super::registry::SyncState::Stale)
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send: drop it here, not across an await.
    let _ = stop.wait_for(|stop| *stop).await.is_ok();
}

/// Encodes and queues responses; false once the proxy is gone.
async fn send_all<R: prost::Message>(
    tx: &mpsc::Sender<Result<Bytes, Status>>,
    responses: Vec<R>,
) -> bool {
    for response in responses {
        // Encoded one at a time: a queued response costs its wire size only.
        if tx.send(Ok(encode_message(&response))).await.is_err() {
            return false;
        }
    }
    true
}

fn struct_to_json(s: &Struct) -> serde_json::Value {
    serde_json::Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as Json;
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Json::Null,
        Some(Kind::NumberValue(n)) => {
            serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number)
        }
        Some(Kind::StringValue(s)) => Json::String(s.clone()),
        Some(Kind::BoolValue(b)) => Json::Bool(*b),
        Some(Kind::StructValue(s)) => struct_to_json(s),
        Some(Kind::ListValue(l)) => Json::Array(l.values.iter().map(value_to_json).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> Value {
        Value {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    #[test]
    fn reads_istio_metadata_from_the_node_struct() {
        let labels = Struct {
            fields: [("app".to_string(), string("reviews"))].into(),
        };
        let node = Node {
            id: "sidecar~10.0.0.1~reviews-1.shop~shop.svc.cluster.local".into(),
            metadata: Some(Struct {
                fields: [
                    (
                        "LABELS".to_string(),
                        Value {
                            kind: Some(Kind::StructValue(labels)),
                        },
                    ),
                    ("SERVICE_ACCOUNT".to_string(), string("reviews")),
                ]
                .into(),
            }),
            ..Default::default()
        };
        let proxy = proxy_node(Some(&node)).unwrap();
        assert_eq!(proxy.labels["app"], "reviews");
        assert_eq!(proxy.service_account.as_deref(), Some("reviews"));
    }

    #[test]
    fn missing_or_malformed_nodes_are_invalid_arguments_saying_what_to_do() {
        let err = proxy_node(None).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        let bad = Node {
            id: "envoy-1".into(),
            ..Default::default()
        };
        let err = proxy_node(Some(&bad)).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("meshctl bootstrap envoy"),
            "{}",
            err.message()
        );
    }
}
