//! The tables of `meshctl proxy-config`, from the views the control plane sends.

use mesh_api::debug::{
    FilterChainMatchView, LbEndpointView, NetworkFilterView, RedirectActionView, RouteActionView,
    RouteView, UndecodableResource, VirtualHostView, WeightedClusterView,
};

use super::*;

fn cluster(name: &str, discovery_type: &str, lb_policy: &str) -> ClusterView {
    ClusterView {
        name: name.into(),
        version: "v1".into(),
        discovery_type: discovery_type.into(),
        lb_policy: lb_policy.into(),
        connect_timeout: None,
        circuit_breakers: Vec::new(),
        outlier_detection: None,
        proto: String::new(),
    }
}

fn chain(
    name: &str,
    chain_match: FilterChainMatchView,
    filter: NetworkFilterView,
) -> FilterChainView {
    FilterChainView {
        name: name.into(),
        chain_match,
        filters: vec![filter],
    }
}

fn filter(route_config: Option<&str>, clusters: &[&str]) -> NetworkFilterView {
    NetworkFilterView {
        name: "filter".into(),
        route_config: route_config.map(str::to_string),
        http_filters: Vec::new(),
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
    }
}

#[test]
fn clusters_split_istio_names_into_columns() {
    let reviews = cluster(
        "outbound|9080|v1|reviews.bookinfo.svc.cluster.local",
        "EDS",
        "ROUND_ROBIN",
    );
    let passthrough = cluster("PassthroughCluster", "ORIGINAL_DST", "CLUSTER_PROVIDED");
    let text = table(&cluster_rows(&[&reviews, &passthrough]));
    assert!(
        text.contains("reviews.bookinfo.svc.cluster.local  9080  v1      outbound   EDS"),
        "{text}"
    );
    assert!(
        text.contains("PassthroughCluster                  -     -       -          ORIGINAL_DST"),
        "{text}"
    );
}

#[test]
fn routes_show_matches_and_weighted_actions() {
    let route = RouteView {
        name: "jason".into(),
        route_match: RouteMatchView {
            path: Some(PathMatchView::Prefix("/".into())),
            headers: vec!["end-user: exact jason".into()],
            ..Default::default()
        },
        action: ActionView::Route(RouteActionView {
            cluster: Some(ClusterSpecifierView::WeightedClusters(vec![
                WeightedClusterView {
                    name: "outbound|9080|v1|reviews.bookinfo.svc.cluster.local".into(),
                    weight: Some(80),
                },
            ])),
            ..Default::default()
        }),
    };
    let redirect = RouteView {
        name: String::new(),
        route_match: RouteMatchView {
            path: Some(PathMatchView::Path("/old".into())),
            ..Default::default()
        },
        action: ActionView::Redirect(RedirectActionView {
            host: "new.example".into(),
            port: 0,
            response_code: 1,
            path: Some("/new".into()),
        }),
    };
    let rc = RouteConfigurationView {
        name: "9080".into(),
        version: "v1".into(),
        virtual_hosts: vec![VirtualHostView {
            name: "reviews".into(),
            domains: [
                "reviews",
                "reviews.bookinfo",
                "reviews.bookinfo.svc.cluster.local",
            ]
            .map(str::to_string)
            .to_vec(),
            routes: vec![route, redirect],
        }],
        proto: String::new(),
    };
    let rows = route_rows(&[&rc]);
    assert_eq!(
        rows[1].join(" | "),
        "9080 | reviews, reviews.bookinfo + 1 more | /*; headers: end-user: exact jason | jason | outbound|9080|v1|reviews.bookinfo.svc.cluster.local 80%"
    );
    assert_eq!(
        rows[2][2..],
        ["/old", "-", "redirect to new.example/new [1]"]
    );
}

#[test]
fn string_matchers_read_like_istio_config() {
    assert_eq!(
        readable_matcher(
            "end-user: StringMatch(StringMatcher { ignore_case: false, match_pattern: Some(Exact(\"jason\")) })"
        ),
        "end-user: exact \"jason\""
    );
    assert_eq!(readable_matcher("x: PresentMatch(true)"), "x: present");
    assert_eq!(readable_matcher("plain"), "plain");
}

#[test]
fn listeners_show_one_row_per_filter_chain() {
    let listener = ListenerView {
        name: "0.0.0.0_9080".into(),
        version: "v1".into(),
        address: Some("0.0.0.0:9080".into()),
        use_original_dst: false,
        listener_filters: Vec::new(),
        filter_chains: vec![
            chain("http", Default::default(), filter(Some("9080"), &[])),
            chain(
                "tcp",
                FilterChainMatchView {
                    prefix_ranges: vec!["10.96.0.1/32".into()],
                    destination_port: Some(9080),
                    ..Default::default()
                },
                filter(None, &["outbound|9080||db"]),
            ),
        ],
        default_filter_chain: Some(chain("fallback", Default::default(), filter(None, &[]))),
        proto: String::new(),
    };
    let rows = listener_rows(&[&listener]);
    assert_eq!(
        rows[1],
        ["0.0.0.0_9080", "0.0.0.0", "9080", "ALL", "Route: 9080"]
    );
    assert_eq!(rows[2][3], "port=9080; addr=10.96.0.1/32");
    assert_eq!(rows[2][4], "Cluster: outbound|9080||db");
    assert_eq!(rows[3][4], "fallback");
}

#[test]
fn endpoints_list_by_cluster_and_undecodable_resources_are_shown() {
    let endpoints = EndpointsView {
        cluster_name: "outbound|9080|v1|reviews.bookinfo.svc.cluster.local".into(),
        version: "v1".into(),
        endpoints: vec![LbEndpointView {
            address: Some("10.0.0.1:9080".into()),
            weight: None,
            locality: None,
            priority: 0,
            health_status: "HEALTHY".into(),
        }],
        proto: String::new(),
    };
    let resources = [
        DumpedResource::Decoded(endpoints),
        DumpedResource::Undecodable(UndecodableResource {
            name: "outbound|80||web".into(),
            version: "v2".into(),
            decode_error: "buffer underflow".into(),
        }),
    ];
    let text = show(&resources, ConfigFormat::Table, endpoint_rows).unwrap();
    assert!(
        text.contains("10.0.0.1:9080  HEALTHY  -       outbound|9080|v1|reviews"),
        "{text}"
    );
    assert!(
        text.contains(
            "outbound|80||web: the control plane could not decode what it sent (version v2): buffer underflow"
        ),
        "{text}"
    );
}
