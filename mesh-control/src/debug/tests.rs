//! The debug endpoint's answers, without a socket.

use super::*;
use crate::xds::node::ProxyNode;
use crate::xds::server::AdsProtocolKind;

fn state(version: u64) -> (DebugState, watch::Sender<Arc<ConfigSnapshot>>) {
    let (tx, config) = watch::channel(Arc::new(ConfigSnapshot {
        version,
        errors: vec!["bad.yaml:3 (document 1): VirtualService shop/web: spec.http[0]: oops".into()],
        ..Default::default()
    }));
    let state = DebugState {
        config,
        registry: Arc::default(),
    };
    (state, tx)
}

fn get(state: &DebugState, path_and_query: &str) -> DebugResponse {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    state.respond(&Method::GET, path, query)
}

#[test]
fn readiness_follows_the_config() {
    let (empty, _tx) = state(0);
    assert_eq!(
        get(&empty, "/healthz/ready").status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (loaded, _tx) = state(3);
    let ready = get(&loaded, "/healthz/ready");
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["config_version"], 3);
    assert_eq!(
        get(&loaded, "/version").body["version"],
        env!("CARGO_PKG_VERSION")
    );
    let config = get(&loaded, "/debug/config");
    assert_eq!(
        config.body["errors"][0]
            .as_str()
            .map(|e| e.starts_with("bad.yaml:3")),
        Some(true)
    );
}

#[test]
fn config_dump_of_an_unknown_proxy_names_the_known_ones() {
    let (state, _tx) = state(1);
    let id = ProxyNode::sidecar_id("10.0.0.1", "web-1", "shop");
    let node = Arc::new(ProxyNode::parse(&id, &Value::Null).unwrap());
    let _registration = state
        .registry
        .register("web-1.shop-1".into(), node, AdsProtocolKind::Sotw);

    let missing = get(&state, "/debug/config_dump?proxy=db-0.shop");
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["known_proxies"][0], id.as_str());

    // By pod.namespace, and by the node id percent-encoded as clients send it.
    for query in [
        "proxy=web-1.shop",
        "proxy=sidecar%7E10.0.0.1%7Eweb-1.shop%7Eshop.svc.cluster.local",
    ] {
        let dump = get(&state, &format!("/debug/config_dump?{query}"));
        assert_eq!(dump.status, StatusCode::OK, "{query}");
        assert_eq!(dump.body["proxy"], id.as_str());
        assert_eq!(dump.body["clusters"], json!([]));
    }

    let syncz = get(&state, "/debug/syncz");
    assert_eq!(syncz.body[0]["name"], "web-1.shop");
    assert_eq!(syncz.body[0]["protocol"], "sotw");
    assert_eq!(syncz.body[0]["types"]["CDS"]["state"], "NOT_SENT");
    assert_eq!(get(&state, "/nope").status, StatusCode::NOT_FOUND);
}

#[test]
fn query_parameters_are_percent_decoded() {
    assert_eq!(
        query_param("a=1&proxy=x%2Ey+z", "proxy").as_deref(),
        Some("x.y z")
    );
    assert_eq!(query_param("proxy=%zz", "proxy").as_deref(), Some("%zz"));
    assert_eq!(query_param("other=1", "proxy"), None);
}
