//! Kubernetes objects give the same xDS as universal mode: a Service with
//! EndpointSlices and Pods translates as the same Service with WorkloadEntries.

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    UpstreamTlsContext, common_tls_context,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher;

use super::mtls_clusters::transport_socket_config;
use super::*;

const COMMON: &str = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
metadata: {name: default, namespace: mesh-system}\nspec: {mtls: {mode: STRICT}}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n\
spec:\n  clusterIP: 10.96.1.1\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: client, namespace: shop}\n\
spec:\n  clusterIP: 10.96.1.2\n  selector: {app: client}\n  ports: [{name: http, port: 80, targetPort: 8080}]\n";

/// (name, IP, labels, service account) of each workload.
const WORKLOADS: [(&str, &str, &str, &str); 4] = [
    (
        "web-0",
        "10.1.0.1",
        "app: web, security.istio.io/tlsMode: istio",
        "web",
    ),
    (
        "web-1",
        "10.1.0.2",
        "app: web, security.istio.io/tlsMode: istio",
        "web-canary",
    ),
    ("plain-0", "10.1.0.3", "app: web", "plain"),
    (
        "client-0",
        "10.20.0.1",
        "app: client, security.istio.io/tlsMode: istio",
        "client",
    ),
];

fn workload_entries() -> String {
    WORKLOADS
        .iter()
        .map(|(name, ip, labels, account)| {
            let port = if *name == "client-0" { 8080 } else { 8081 };
            format!(
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
                 metadata: {{name: {name}, namespace: shop}}\n\
                 spec: {{address: {ip}, labels: {{{labels}}}, serviceAccount: {account}, ports: {{http: {port}}}}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The same workloads as Pods, and the slices Kubernetes' controller would write.
fn pods_and_slices() -> String {
    let pods = WORKLOADS.iter().map(|(name, ip, labels, account)| {
        let port = if *name == "client-0" { 8080 } else { 8081 };
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {{{labels}}}}}\n\
             spec: {{serviceAccountName: {account}, containers: [{{name: app, ports: [{{name: http, containerPort: {port}}}]}}]}}\n\
             status: {{phase: Running, podIP: {ip}}}\n"
        )
    });
    let endpoint = |name: &str, ip: &str| {
        format!(
            "{{addresses: [{ip}], conditions: {{ready: true}}, targetRef: {{kind: Pod, name: {name}, namespace: shop}}}}"
        )
    };
    let web: Vec<String> = WORKLOADS[..3]
        .iter()
        .map(|(name, ip, _, _)| endpoint(name, ip))
        .collect();
    let slices = [
        format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: web-abcde, namespace: shop, labels: {{kubernetes.io/service-name: web}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8081, protocol: TCP}}]\nendpoints: [{}]\n",
            web.join(", ")
        ),
        format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: client-fghij, namespace: shop, labels: {{kubernetes.io/service-name: client}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: 8080}}]\nendpoints: [{}]\n",
            endpoint("client-0", "10.20.0.1")
        ),
    ];
    pods.chain(slices).collect::<Vec<_>>().join("---\n")
}

fn sans(tls: &UpstreamTlsContext) -> Vec<String> {
    let common = tls.common_tls_context.as_ref().expect("common context");
    let Some(common_tls_context::ValidationContextType::CombinedValidationContext(combined)) =
        &common.validation_context_type
    else {
        panic!("no combined validation context: {common:?}");
    };
    combined
        .default_validation_context
        .iter()
        .flat_map(|v| &v.match_typed_subject_alt_names)
        .filter_map(|m| match m.matcher.as_ref()?.match_pattern.as_ref()? {
            string_matcher::MatchPattern::Exact(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn endpoint_slices_and_pods_translate_as_workload_entries() {
    let entries = model_of(&[("common.yaml", COMMON), ("we.yaml", &workload_entries())]);
    let kubernetes = model_of(&[("common.yaml", COMMON), ("kube.yaml", &pods_and_slices())]);
    // The client proxy finds its Pod by name, as it finds its WorkloadEntry.
    let client = proxy("10.20.0.1", "client-0", "shop");
    let from_entries = translate(&entries, &client);
    let from_kubernetes = translate(&kubernetes, &client);
    assert!(
        from_entries == from_kubernetes,
        "WorkloadEntries: {from_entries:#?}\nKubernetes: {from_kubernetes:#?}"
    );
    let pod = mesh_api::object::ObjectRef {
        kind: mesh_api::object::Kind::Pod,
        namespace: "shop".to_string(),
        name: "client-0".to_string(),
    };
    assert_eq!(
        super::super::proxy_workload(&kubernetes, &client),
        Some(pod.clone())
    );
    // And by IP when its node names no workload.
    let unknown = proxy("10.20.0.1", "unknown", "shop");
    assert_eq!(
        super::super::proxy_workload(&kubernetes, &unknown),
        Some(pod)
    );
    let by_ip = translate(&kubernetes, &unknown);
    assert!(by_ip.listeners == from_kubernetes.listeners);

    // What that is: auto mTLS to the labelled pods, verified as their accounts.
    let web = cluster(&from_kubernetes, "outbound|80||web.shop.svc.cluster.local");
    let matches = names(&web.transport_socket_matches, |m| &m.name);
    assert_eq!(matches, ["tlsMode-istio", "tlsMode-disabled"]);
    let socket = web.transport_socket_matches[0]
        .transport_socket
        .as_ref()
        .expect("socket");
    let tls: UpstreamTlsContext = transport_socket_config(socket);
    assert_eq!(
        sans(&tls),
        [
            "spiffe://cluster.local/ns/shop/sa/plain",
            "spiffe://cluster.local/ns/shop/sa/web",
            "spiffe://cluster.local/ns/shop/sa/web-canary",
        ]
    );
    let cla = find(
        &from_kubernetes.endpoints,
        |e| &e.cluster_name,
        "outbound|80||web.shop.svc.cluster.local",
    );
    let endpoints: Vec<_> = cla.endpoints.iter().flat_map(|l| &l.lb_endpoints).collect();
    assert_eq!(endpoints.len(), 3);
    let inbound = names(&from_kubernetes.listeners, |l| &l.name);
    assert!(inbound.iter().any(|n| n == "virtualInbound"), "{inbound:?}");
}
