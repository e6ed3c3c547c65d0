//! The SotW state machine, without a stream.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::google::rpc;
use prost::Message;

use super::*;
use crate::xds::resources::ProxyResources;
use crate::xds::server::registry::SyncState;

fn proxy() -> Arc<ProxyNode> {
    let id = ProxyNode::sidecar_id("10.0.0.1", "web-1", "shop");
    Arc::new(ProxyNode::parse(&id, &serde_json::Value::Null).unwrap())
}

/// Clusters `a`, `b` and their endpoints, with `endpoint_weight` in `a`'s.
fn snapshot(version: u64, cluster_timeout: i64, endpoint_weight: u32) -> Arc<ProxySnapshot> {
    let cluster = |name: &str| Cluster {
        name: name.into(),
        connect_timeout: Some(envoy_types::pb::google::protobuf::Duration {
            seconds: cluster_timeout,
            nanos: 0,
        }),
        ..Default::default()
    };
    let cla = |name: &str, weight: u32| ClusterLoadAssignment {
        cluster_name: name.into(),
        policy: None,
        endpoints: vec![
            envoy_types::pb::envoy::config::endpoint::v3::LocalityLbEndpoints {
                load_balancing_weight: Some(envoy_types::pb::google::protobuf::UInt32Value {
                    value: weight,
                }),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let resources = ProxyResources {
        clusters: vec![cluster("a"), cluster("b")],
        endpoints: vec![cla("a", endpoint_weight), cla("b", 1)],
        ..Default::default()
    };
    Arc::new(ProxySnapshot::encode(
        version,
        &resources,
        &crate::xds::server::ResourceInterner::default(),
    ))
}

fn request(ty: XdsType, names: &[&str], nonce: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: ty.type_url().into(),
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        response_nonce: nonce.into(),
        ..Default::default()
    }
}

fn types(responses: &[DiscoveryResponse]) -> Vec<&'static str> {
    responses
        .iter()
        .map(|r| XdsType::from_type_url(&r.type_url).map_or("?", XdsType::short_name))
        .collect()
}

#[test]
fn acks_need_no_answer_and_stale_nonces_are_ignored() {
    let mut c = SotwConnection::new(proxy(), snapshot(1, 1, 1));
    let cds = c.on_request(request(XdsType::Cluster, &[], ""));
    assert_eq!(cds.len(), 1);
    assert_eq!(
        cds[0].resources.len(),
        2,
        "an empty CDS request is a wildcard"
    );
    let eds = c.on_request(request(XdsType::Endpoint, &["a"], ""));
    assert_eq!(
        eds[0].resources.len(),
        1,
        "EDS gets only the names asked for"
    );

    assert!(
        c.on_request(request(XdsType::Cluster, &[], &cds[0].nonce))
            .is_empty()
    );
    assert_eq!(c.status().get(XdsType::Cluster).state(), SyncState::Synced);

    // Envoy asking for `b` as well, answering an older response: ignored.
    assert!(
        c.on_request(request(XdsType::Endpoint, &["a", "b"], "old"))
            .is_empty()
    );
    // The same, answering the latest: an ACK with new names, which need an answer.
    let eds2 = c.on_request(request(XdsType::Endpoint, &["a", "b"], &eds[0].nonce));
    assert_eq!(eds2[0].resources.len(), 2);
}

#[test]
fn a_nack_keeps_the_acked_version_and_records_the_error() {
    let mut c = SotwConnection::new(proxy(), snapshot(1, 1, 1));
    let first = c.on_request(request(XdsType::Cluster, &[], ""));
    c.on_request(request(XdsType::Cluster, &[], &first[0].nonce));
    let pushed = c.on_snapshot(snapshot(2, 2, 1));
    assert_eq!(types(&pushed), ["CDS"]);
    let mut nack = request(XdsType::Cluster, &[], &pushed[0].nonce);
    nack.version_info = first[0].version_info.clone();
    nack.error_detail = Some(rpc::Status {
        code: 13,
        message: "cluster a: bad timeout".into(),
        details: vec![],
    });
    assert!(c.on_request(nack).is_empty(), "a NACK is not answered");
    let status = c.status().get(XdsType::Cluster);
    assert_eq!(status.state(), SyncState::Nacked);
    assert_eq!(status.acked_version.as_ref(), Some(&first[0].version_info));
    assert_eq!(
        status.nack.as_ref().map(|n| n.error.as_str()),
        Some("cluster a: bad timeout")
    );
}

#[test]
fn pushes_send_only_changed_types_and_endpoints_after_clusters() {
    let mut c = SotwConnection::new(proxy(), snapshot(1, 1, 1));
    c.on_request(request(XdsType::Cluster, &[], ""));
    c.on_request(request(XdsType::Endpoint, &["a", "b"], ""));

    assert!(
        c.on_snapshot(snapshot(2, 1, 1)).is_empty(),
        "nothing changed"
    );
    assert_eq!(types(&c.on_snapshot(snapshot(3, 1, 5))), ["EDS"]);
    assert_eq!(
        types(&c.on_snapshot(snapshot(4, 2, 5))),
        ["CDS", "EDS"],
        "changed clusters are followed by their endpoints"
    );
    assert_eq!(c.status().config_version, 4);
}

#[test]
fn a_first_request_carrying_a_nonce_of_another_stream_is_answered() {
    let mut c = SotwConnection::new(proxy(), snapshot(1, 1, 1));
    let cds = c.on_request(request(XdsType::Cluster, &[], "nonce-of-a-previous-stream"));
    assert_eq!(types(&cds), ["CDS"]);
}

#[test]
fn an_endpoint_push_carries_only_the_changed_load_assignments() {
    let mut c = SotwConnection::new(proxy(), snapshot(1, 1, 1));
    c.on_request(request(XdsType::Cluster, &[], ""));
    let eds = c.on_request(request(XdsType::Endpoint, &["a", "b"], ""));
    assert_eq!(eds[0].resources.len(), 2, "a first response has them all");
    c.on_request(request(XdsType::Endpoint, &["a", "b"], &eds[0].nonce));

    let pushed = c.on_snapshot(snapshot(2, 1, 5));
    assert_eq!(types(&pushed), ["EDS"]);
    let names: Vec<String> = pushed[0]
        .resources
        .iter()
        .filter_map(|any| ClusterLoadAssignment::decode(any.value.as_slice()).ok())
        .map(|cla| cla.cluster_name)
        .collect();
    assert_eq!(names, ["a"], "only `a`'s endpoints changed");
    assert_eq!(
        c.status().get(XdsType::Endpoint).resources.len(),
        2,
        "the proxy holds both"
    );

    let pushed = c.on_snapshot(snapshot(3, 2, 1));
    assert_eq!(types(&pushed), ["CDS", "EDS"]);
    assert_eq!(
        pushed[1].resources.len(),
        2,
        "after changed clusters, every endpoint is sent again"
    );
}

#[test]
fn a_push_that_says_what_changed_is_answered_from_those_names_alone() {
    let mut c = SotwConnection::new(proxy(), snapshot(1, 1, 1));
    c.on_request(request(XdsType::Cluster, &[], ""));
    let eds = c.on_request(request(XdsType::Endpoint, &["a", "b"], ""));
    c.on_request(request(XdsType::Endpoint, &["a", "b"], &eds[0].nonce));
    let said = |eds: TypeChange| {
        PerType::from_fn(|ty| match ty {
            XdsType::Endpoint => eds.clone(),
            _ => TypeChange::Unchanged,
        })
    };
    // `a` changed and the push says so: only `a` goes out, without comparing `b`.
    let next = (*snapshot(2, 1, 5))
        .clone()
        .with_change(1, said(TypeChange::Resources(["a".to_string()].into())));
    let pushed = c.on_snapshot(Arc::new(next));
    assert_eq!(types(&pushed), ["EDS"]);
    assert_eq!(pushed[0].resources.len(), 1);
    assert_eq!(c.status().get(XdsType::Endpoint).resources.len(), 2);
    // Said unchanged: nothing at all, not even a comparison.
    let same = (*snapshot(3, 1, 5))
        .clone()
        .with_change(2, said(TypeChange::Unchanged));
    assert!(c.on_snapshot(Arc::new(same)).is_empty());
    // A change said relative to another base is not trusted: compared in full.
    let other = (*snapshot(4, 1, 7))
        .clone()
        .with_change(1, said(TypeChange::Unchanged));
    let pushed = c.on_snapshot(Arc::new(other));
    assert_eq!(types(&pushed), ["EDS"], "compared, not taken on trust");
}

/// A VirtualService rule with both a fault and a CORS policy: the route's
/// `typed_per_filter_config` map has two entries, which prost encodes in any order.
const FAULT_AND_CORS: &str = "\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: 10.96.0.1
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
  - fault: {abort: {httpStatus: 500, percentage: {value: 10}}}
    corsPolicy: {allowOrigins: [{exact: \"https://example.com\"}]}
    route: [{destination: {host: web}}]
";

#[test]
fn translating_the_same_model_again_pushes_nothing() {
    let parsed = mesh_api::manifest::parse_file("web.yaml", FAULT_AND_CORS);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let model = mesh_api::model::MeshModel::build(
        parsed.objects.into_iter().map(|p| Arc::new(p.object)),
        mesh_api::model::MeshSettings::default(),
    );
    let node = proxy();
    let translate = || crate::xds::translate::translate(&model, &node);
    let first = translate();
    assert!(
        first
            .routes
            .iter()
            .flat_map(|r| &r.virtual_hosts)
            .flat_map(|vh| &vh.routes)
            .any(|r| r.typed_per_filter_config.len() > 1),
        "the test needs a map of two entries"
    );
    let interner = crate::xds::server::ResourceInterner::default();
    let first = Arc::new(ProxySnapshot::encode(1, &first, &interner));
    let mut c = SotwConnection::new(node.clone(), first.clone());
    for (ty, names) in [
        (XdsType::Cluster, vec![]),
        (XdsType::Listener, vec![]),
        (XdsType::Route, vec!["80"]),
    ] {
        let response = c.on_request(request(ty, &names, ""));
        assert_eq!(response.len(), 1);
        c.on_request(request(ty, &names, &response[0].nonce));
    }
    for version in 2..10 {
        let again = ProxySnapshot::encode(version, &translate(), &interner);
        assert!(
            c.on_snapshot(Arc::new(again)).is_empty(),
            "an equal translation is no change"
        );
    }
    // A restarted control plane (no live copies to reuse) gives the same versions.
    let fresh = ProxySnapshot::encode(1, &translate(), &Default::default());
    for ty in XdsType::PUSH_ORDER {
        let versions = |s: &ProxySnapshot| -> Vec<String> {
            s.resources(ty)
                .values()
                .map(|r| r.version.clone())
                .collect()
        };
        assert_eq!(versions(&fresh), versions(&first), "{}", ty.short_name());
    }
}
