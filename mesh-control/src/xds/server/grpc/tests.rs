use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use http_body_util::StreamBody;
use tokio::sync::watch;

use super::*;
use crate::config::ConfigSnapshot;
use crate::xds::server::AdsServer;

fn request(names: &[&str]) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment".into(),
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

/// A request body delivering `chunks` as separate HTTP/2 data frames.
fn body(chunks: Vec<Vec<u8>>) -> GrpcBody {
    let frames = chunks
        .into_iter()
        .map(|c| Ok::<_, Status>(Frame::data(Bytes::from(c))));
    GrpcBody::new(StreamBody::new(tokio_stream::iter(frames)))
}

async fn collect(mut body: ResponseBody) -> (Vec<Bytes>, http::HeaderMap) {
    let mut data = Vec::new();
    loop {
        let frame = body
            .frame()
            .await
            .expect("trailers end the body")
            .expect("no body error");
        match frame.into_data() {
            Ok(d) => data.push(d),
            Err(frame) => return (data, frame.into_trailers().expect("trailers")),
        }
    }
}

#[test]
fn a_message_is_framed_as_grpc_says_and_sized_exactly() {
    let response = DiscoveryResponse {
        version_info: "v1".into(),
        type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
        ..Default::default()
    };
    let frame = encode_message(&response);
    assert_eq!(frame[0], 0, "not compressed");
    let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    assert_eq!(len, frame.len() - 5);
    assert_eq!(frame.len(), 5 + response.encoded_len());
    assert_eq!(DiscoveryResponse::decode(&frame[5..]).unwrap(), response);
}

#[tokio::test]
async fn requests_split_across_frames_or_packed_into_one_are_decoded_in_order() {
    let (a, b, c) = (request(&["a"]), request(&["b", "bb"]), request(&[]));
    let (fa, fb, fc) = (encode_message(&a), encode_message(&b), encode_message(&c));
    // `a` arrives in three pieces, the header itself split; `b` and `c` in one frame.
    let mut packed = fb.to_vec();
    packed.extend_from_slice(&fc);
    let chunks = vec![
        fa[..3].to_vec(),
        fa[3..7].to_vec(),
        fa[7..].to_vec(),
        packed,
    ];
    let mut stream = RequestStream::<DiscoveryRequest>::new(body(chunks));
    assert_eq!(stream.message().await.unwrap(), Some(a));
    assert_eq!(stream.message().await.unwrap(), Some(b));
    assert_eq!(stream.message().await.unwrap(), Some(c));
    assert_eq!(stream.message().await.unwrap(), None);
}

#[tokio::test]
async fn a_large_request_does_not_leave_its_buffer_behind() {
    let names: Vec<String> = (0..2_000)
        .map(|i| format!("outbound|80||svc-{i}.ns.svc.cluster.local"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let big = request(&names);
    let mut stream =
        RequestStream::<DiscoveryRequest>::new(body(vec![encode_message(&big).to_vec()]));
    assert_eq!(stream.message().await.unwrap(), Some(big));
    assert!(
        stream.buf.capacity() <= KEPT_BUFFER_BYTES,
        "{}",
        stream.buf.capacity()
    );
}

#[tokio::test]
async fn compressed_truncated_and_oversized_requests_are_errors_that_say_why() {
    let mut compressed = encode_message(&request(&["a"])).to_vec();
    compressed[0] = 1;
    let err = RequestStream::<DiscoveryRequest>::new(body(vec![compressed]))
        .message()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
    assert!(err.message().contains("uncompressed"), "{}", err.message());

    let whole = encode_message(&request(&["a"]));
    let err = RequestStream::<DiscoveryRequest>::new(body(vec![whole[..whole.len() - 1].to_vec()]))
        .message()
        .await
        .unwrap_err();
    assert!(
        err.message().contains("ended inside a message"),
        "{}",
        err.message()
    );

    let mut huge = vec![0u8];
    huge.extend_from_slice(&u32::MAX.to_be_bytes());
    let err = RequestStream::<DiscoveryRequest>::new(body(vec![huge]))
        .message()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn responses_are_sent_as_queued_then_the_status_goes_in_the_trailers() {
    let (tx, rx) = mpsc::channel(4);
    let message = encode_message(&request(&["a"]));
    tx.send(Ok(message.clone())).await.unwrap();
    drop(tx);
    let (data, trailers) = collect(ResponseBody {
        responses: rx,
        finished: false,
    })
    .await;
    assert_eq!(data, vec![message]);
    assert_eq!(trailers["grpc-status"], "0");

    let (tx, rx) = mpsc::channel(4);
    tx.send(Err(Status::internal("cannot translate")))
        .await
        .unwrap();
    let (data, trailers) = collect(ResponseBody {
        responses: rx,
        finished: false,
    })
    .await;
    assert!(data.is_empty());
    assert_eq!(
        trailers["grpc-status"],
        (Code::Internal as i32).to_string().as_str()
    );
    // Percent-encoded, as gRPC says.
    assert_eq!(trailers["grpc-message"], "cannot%20translate");
}

#[tokio::test]
async fn an_unknown_method_is_unimplemented_and_names_the_ones_offered() {
    let (_config, config_rx) = watch::channel(std::sync::Arc::new(ConfigSnapshot::default()));
    let server = AdsServer::start(config_rx, Duration::from_millis(10));
    let request = http::Request::builder()
        .uri("/envoy.service.discovery.v3.AggregatedDiscoveryService/FetchClusters")
        .body(body(Vec::new()))
        .unwrap();
    let response = server.service().call(request).await.unwrap();
    let status = Status::from_header_map(response.headers()).expect("a gRPC status");
    assert_eq!(status.code(), Code::Unimplemented);
    assert!(
        status.message().contains("DeltaAggregatedResources"),
        "{}",
        status.message()
    );
    server.stop();
}
