//! Real Envoy (1.40) is the judge: the translator's output, as a static bootstrap,
//! must pass `envoy --mode validate`.

use std::path::PathBuf;
use std::process::Command;

use envoy_types::pb::envoy::config::bootstrap::v3::{Bootstrap, bootstrap};
use envoy_types::pb::envoy::config::cluster::v3::cluster;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::{Listener, filter};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use prost::Message;

use super::*;
use crate::xds::resources::ProxyResources;
use crate::xds::translate::proto::any;

/// Envoy from `cargo xtask tools`: `$MESH_TOOLS_DIR/envoy` (or `bin/envoy` under it),
/// else `<workspace>/target/tools/bin/envoy`.
fn envoy_binary() -> Option<PathBuf> {
    let candidates = match std::env::var_os("MESH_TOOLS_DIR").map(PathBuf::from) {
        Some(dir) => vec![dir.join("envoy"), dir.join("bin/envoy")],
        None => vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/envoy")],
    };
    candidates.into_iter().find(|bin| bin.is_file())
}

/// The resources as one static bootstrap: RDS route configs inlined into their HTTP
/// connection managers, EDS clusters turned STATIC with their ClusterLoadAssignment,
/// plus the `sds-grpc` cluster the SDS secrets refer to (as `meshctl bootstrap envoy
/// --sds-socket` writes it).
pub(super) fn static_bootstrap(node_id: &str, r: &ProxyResources) -> Bootstrap {
    let listeners = r.listeners.iter().map(|l| inline_routes(l, r)).collect();
    let clusters = std::iter::once(sds_cluster())
        .chain(r.clusters.iter().map(|c| {
            let mut c = c.clone();
            if c.eds_cluster_config.take().is_some() {
                c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
                    cluster::DiscoveryType::Static as i32,
                ));
                c.load_assignment = r
                    .endpoints
                    .iter()
                    .find(|e| e.cluster_name == c.name)
                    .cloned();
            }
            c
        }))
        .collect();
    Bootstrap {
        node: Some(Node {
            id: node_id.to_string(),
            cluster: "validate".to_string(),
            ..Default::default()
        }),
        static_resources: Some(bootstrap::StaticResources {
            listeners,
            clusters,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Istio's bootstrap cluster to the SDS server: HTTP/2 over a Unix socket.
fn sds_cluster() -> Cluster {
    use envoy_types::pb::envoy::config::core::v3::{Address, Http2ProtocolOptions, Pipe, address};
    use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
        HttpProtocolOptions, http_protocol_options,
    };
    let name = crate::xds::translate::SDS_CLUSTER;
    let mut assignment = crate::xds::translate::endpoints::single_endpoint(name, "127.0.0.1", 1);
    if let Some(e) = assignment
        .endpoints
        .first_mut()
        .and_then(|l| l.lb_endpoints.first_mut())
        .and_then(|e| match &mut e.host_identifier {
            Some(
                envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(
                    e,
                ),
            ) => Some(e),
            _ => None,
        })
    {
        e.address = Some(Address {
            address: Some(address::Address::Pipe(Pipe {
                path: "/tmp/mesh-validate/sds.sock".to_string(),
                mode: 0,
            })),
        });
    }
    let h2 = HttpProtocolOptions {
        upstream_protocol_options: Some(
            http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                http_protocol_options::ExplicitHttpConfig {
                    protocol_config: Some(
                        http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                            Http2ProtocolOptions::default(),
                        ),
                    ),
                },
            ),
        ),
        ..Default::default()
    };
    Cluster {
        name: name.to_string(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        connect_timeout: Some(crate::xds::translate::proto::seconds(1)),
        load_assignment: Some(assignment),
        typed_extension_protocol_options: [(
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
            any(&h2),
        )]
        .into(),
        ..Default::default()
    }
}

fn inline_routes(listener: &Listener, r: &ProxyResources) -> Listener {
    let mut listener = listener.clone();
    let chains = listener
        .filter_chains
        .iter_mut()
        .chain(listener.default_filter_chain.iter_mut());
    for chain in chains {
        for f in &mut chain.filters {
            let Some(filter::ConfigType::TypedConfig(config)) = &mut f.config_type else {
                continue;
            };
            let Ok(mut hcm) = HttpConnectionManager::decode(config.value.as_slice()) else {
                continue;
            };
            if !config.type_url.ends_with("HttpConnectionManager") {
                continue;
            }
            if let Some(http_connection_manager::RouteSpecifier::Rds(rds)) = &hcm.route_specifier {
                let rc = r
                    .routes
                    .iter()
                    .find(|rc| rc.name == rds.route_config_name)
                    .cloned()
                    .unwrap_or_else(|| panic!("no route config {}", rds.route_config_name));
                hcm.route_specifier =
                    Some(http_connection_manager::RouteSpecifier::RouteConfig(rc));
                *config = any(&hcm);
            }
        }
    }
    listener
}

/// Runs `envoy --mode validate` on the resources; returns Envoy's complaint on failure.
pub(super) fn envoy_validate(node_id: &str, r: &ProxyResources) -> Option<Result<(), String>> {
    let Some(envoy) = envoy_binary() else {
        eprintln!(
            "skipped: no envoy under target/tools or $MESH_TOOLS_DIR; run `cargo xtask tools`"
        );
        return None;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bootstrap.pb");
    std::fs::write(&path, static_bootstrap(node_id, r).encode_to_vec()).expect("write bootstrap");
    let out = Command::new(envoy)
        .arg("--mode")
        .arg("validate")
        .arg("-c")
        .arg(&path)
        .arg("--disable-hot-restart")
        .arg("--log-level")
        .arg("error")
        .output()
        .expect("run envoy");
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

#[test]
fn envoy_accepts_bookinfo_for_every_proxy() {
    let model = bookinfo();
    for (ip, pod) in [
        ("10.10.0.10", "productpage-v1-0"),
        ("10.10.0.21", "reviews-v1-0"),
    ] {
        let p = proxy(ip, pod, "bookinfo");
        let r = translate(&model, &p);
        if let Some(result) = envoy_validate(&p.id, &r) {
            result.unwrap_or_else(|e| panic!("envoy rejected config of {pod}: {e}"));
        }
    }
}

#[test]
fn envoy_accepts_every_feature() {
    let model = model_of(&[("features.yaml", FEATURES)]);
    let p = proxy("10.20.0.1", "client-0", "shop");
    let r = translate(&model, &p);
    if let Some(result) = envoy_validate(&p.id, &r) {
        result.unwrap_or_else(|e| panic!("envoy rejected the config: {e}"));
    }
}
