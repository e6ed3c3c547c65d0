use super::*;
use crate::object::Kind;
use crate::test_support::{bookinfo, model_of};

fn wref(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        kind: Kind::WorkloadEntry,
        namespace: namespace.into(),
        name: name.into(),
    }
}

#[test]
fn services_have_every_client_name() {
    let model = bookinfo();
    assert_eq!(model.services.len(), 4);
    for name in [
        "reviews.bookinfo",
        "reviews.bookinfo.svc",
        "reviews.bookinfo.svc.cluster.local",
    ] {
        assert_eq!(
            model.aliases.get(name).map(String::as_str),
            Some("reviews.bookinfo.svc.cluster.local")
        );
    }
    assert_eq!(
        model.resolve_host("reviews", "bookinfo"),
        "reviews.bookinfo.svc.cluster.local"
    );
    assert_eq!(
        model.resolve_host("reviews.bookinfo", "other"),
        "reviews.bookinfo.svc.cluster.local"
    );
    assert!(
        model.find_service("reviews", "other").is_none(),
        "a short name is the config namespace's"
    );
    let reviews = &model.services["reviews.bookinfo.svc.cluster.local"];
    assert_eq!(reviews.addresses, ["10.96.0.12"]);
}

#[test]
fn endpoints_are_the_selected_workloads_on_their_target_ports() {
    let model = bookinfo();
    let reviews = &model.services["reviews.bookinfo.svc.cluster.local"];
    let addresses: Vec<&str> = reviews
        .endpoints
        .iter()
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(addresses, ["10.10.0.21", "10.10.0.22", "10.10.0.23"]);
    // targetPort `http-app` resolves through the WorkloadEntry's named ports.
    assert!(
        reviews
            .endpoints
            .iter()
            .all(|e| e.ports.get(&9080) == Some(&9080))
    );
    assert_eq!(
        model.workloads[&wref("bookinfo", "reviews-v2-0")].services,
        ["reviews.bookinfo.svc.cluster.local"]
    );
}

#[test]
fn port_protocols_come_from_app_protocol_and_names() {
    let model = bookinfo();
    let ratings = &model.services["ratings.bookinfo.svc.cluster.local"];
    let protocols: Vec<(u16, Protocol)> =
        ratings.ports.iter().map(|p| (p.port, p.protocol)).collect();
    assert_eq!(protocols, [(9090, Protocol::Grpc), (9080, Protocol::Http)]);
}

#[test]
fn routing_config_attaches_to_its_services() {
    let model = bookinfo();
    let reviews = &model.services["reviews.bookinfo.svc.cluster.local"];
    assert_eq!(reviews.policies.virtual_services.len(), 1);
    assert_eq!(reviews.policies.subsets, ["v1", "v2", "v3"]);
    let ratings = &model.services["ratings.bookinfo.svc.cluster.local"];
    assert!(ratings.policies.virtual_services.is_empty());
    assert_eq!(ratings.policies.destination_rules.len(), 1);
    assert!(ratings.policies.subsets.is_empty());
}

#[test]
fn security_policies_layer_mesh_then_namespace_then_workload() {
    // Bookinfo's mesh-wide policy is in Istio's root namespace, as an Istio user's
    // would be; such a user starts mesh-control with `--root-namespace istio-system`.
    let settings = MeshSettings {
        root_namespace: "istio-system".to_string(),
        ..MeshSettings::default()
    };
    let model = MeshModel::build(
        crate::test_support::objects_of(&crate::test_support::BOOKINFO),
        settings,
    );
    let ratings = &model.workloads[&wref("bookinfo", "ratings-v1-0")];
    assert_eq!(
        ratings.policies.peer_authentications.len(),
        1,
        "mesh-wide PA applies everywhere"
    );
    assert_eq!(ratings.policies.authorization_policies.len(), 1);
    let details = &model.workloads[&wref("bookinfo", "details-v1-0")];
    assert_eq!(details.policies.peer_authentications.len(), 1);
    assert!(
        details.policies.authorization_policies.is_empty(),
        "selector picks ratings only"
    );
}

#[test]
fn destination_rule_precedence_prefers_exact_host_then_own_namespace() {
    let model = model_of(&[(
        "f.yaml",
        r#"
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: istio-system}
spec: {host: "*.svc.cluster.local"}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: from-root, namespace: istio-system}
spec: {host: web.shop.svc.cluster.local}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: own, namespace: shop}
spec:
  host: web
  subsets: [{name: a, labels: {v: a}}]
"#,
    )]);
    let web = &model.services["web.shop.svc.cluster.local"];
    let names: Vec<&str> = web
        .policies
        .destination_rules
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["own", "from-root", "all"]);
    assert_eq!(web.policies.subsets, ["a"]);
}

#[test]
fn service_entries_become_services_per_host_with_their_resolution() {
    let model = model_of(&[(
        "se.yaml",
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: external, namespace: shop}
spec:
  hosts: [api.example.com, "*.cdn.example.com"]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: legacy, namespace: shop}
spec:
  hosts: [legacy.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP, targetPort: 80}]
  endpoints: [{address: 10.1.2.3}, {address: 10.1.2.4, ports: {http: 8081}}]
"#,
    )]);
    let api = &model.services["api.example.com"];
    assert_eq!(api.resolution, Resolution::Dns);
    assert!(!api.mesh_internal);
    assert_eq!(api.ports[0].protocol, Protocol::Tls);
    assert!(
        model.find_service("images.cdn.example.com", "x").is_some(),
        "wildcard hosts cover names under them"
    );
    let legacy = &model.services["legacy.internal"];
    let ports: Vec<Option<&u16>> = legacy
        .endpoints
        .iter()
        .map(|e| e.ports.get(&8080))
        .collect();
    assert_eq!(ports, [Some(&80), Some(&8081)]);
}

#[test]
fn service_without_selector_has_no_endpoints_and_other_namespaces_are_not_selected() {
    let model = model_of(&[(
        "f.yaml",
        r#"
apiVersion: v1
kind: Service
metadata: {name: a, namespace: one}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: one}
spec: {selector: {app: b}, ports: [{port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: b-elsewhere, namespace: two}
spec: {address: 10.0.0.1, labels: {app: b}}
"#,
    )]);
    assert!(
        model.services["a.one.svc.cluster.local"]
            .endpoints
            .is_empty()
    );
    assert!(
        model.services["b.one.svc.cluster.local"]
            .endpoints
            .is_empty()
    );
}

#[test]
fn services_without_cluster_ip_get_a_stable_vip_and_headless_ones_none() {
    let config = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  clusterIP: None
  ports: [{name: tcp, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  clusterIP: 10.96.0.7
  ports: [{name: http, port: 80}]
";
    let model = model_of(&[("shop.yaml", config)]);
    let web = &model.services["web.shop.svc.cluster.local"].addresses;
    assert_eq!(web.len(), 1, "{web:?}");
    let vip: std::net::Ipv4Addr = web[0].parse().expect("an IPv4 address");
    let [a, b, ..] = vip.octets();
    assert!(
        a == 10 && (96..112).contains(&b),
        "{vip} is in 10.96.0.0/12"
    );
    assert!(
        model.services["db.shop.svc.cluster.local"]
            .addresses
            .is_empty()
    );
    assert_eq!(
        model.services["api.shop.svc.cluster.local"].addresses,
        ["10.96.0.7"]
    );
    // Rebuilt from the same objects (as after a restart), the VIP is the same.
    assert_eq!(
        &model_of(&[("shop.yaml", config)]).services["web.shop.svc.cluster.local"].addresses,
        web
    );
}
