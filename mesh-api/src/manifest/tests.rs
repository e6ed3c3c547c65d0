use super::*;
use crate::object::Kind;

const GOOD: &str = r#"
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec: {replicas: 1}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
"#;

#[test]
fn istio_and_core_documents_parse_and_other_kinds_are_skipped() {
    let parsed = parse_file("good.yaml", GOOD);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let refs: Vec<String> = parsed
        .objects
        .iter()
        .map(|o| o.object.object_ref().to_string())
        .collect();
    assert_eq!(
        refs,
        ["VirtualService default/reviews", "Service bookinfo/reviews"]
    );
    assert_eq!(parsed.objects[0].location.line, 2);
    assert_eq!(parsed.objects[1].location.document, 3);
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].kind, "Deployment");
    // The default namespace is filled in, as kubectl does.
    assert_eq!(
        parsed.objects[0].object.metadata().namespace.as_deref(),
        Some("default")
    );
}

#[test]
fn unknown_field_is_reported_with_file_document_object_field_and_line() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: networking.mesh.dev/v1alpha1\nkind: VirtualService\nmetadata: {name: reviews, namespace: bookinfo}\nspec:\n  hosts: [reviews]\n  http:\n  - rout:\n    - destination: {host: reviews}\n";
    let parsed = parse_file("dir/vs.yaml", text);
    assert_eq!(parsed.objects.len(), 1);
    let [err] = parsed.errors.as_slice() else {
        panic!("{:?}", parsed.errors)
    };
    assert_eq!(err.location.file, "dir/vs.yaml");
    assert_eq!(err.location.document, 2);
    assert_eq!(err.location.line, 11, "{err}");
    assert_eq!(
        err.object.as_ref().map(|o| o.kind),
        Some(Kind::VirtualService)
    );
    assert_eq!(err.field.as_deref(), Some("spec.http[0].rout"));
    assert!(err.message.contains("unknown field `rout`"), "{err}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(
            "dir/vs.yaml:11 (document 2): VirtualService bookinfo/reviews: spec.http[0].rout: "
        ),
        "{shown}"
    );
}

#[test]
fn wrong_type_names_the_field_path() {
    let text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  http:\n  - route:\n    - destination: {host: a}\n      weight: heavy\n";
    let parsed = parse_file("f.yaml", text);
    let err = &parsed.errors[0];
    assert_eq!(
        err.field.as_deref(),
        Some("spec.http[0].route[0].weight"),
        "{err}"
    );
    assert_eq!(err.location.line, 8);
}

#[test]
fn invalid_enum_value_is_an_error() {
    let text = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\nspec:\n  host: r\n  trafficPolicy:\n    loadBalancer: {simple: FASTEST}\n";
    let parsed = parse_file("f.yaml", text);
    let err = &parsed.errors[0];
    assert!(
        err.field
            .as_deref()
            .unwrap_or("")
            .starts_with("spec.trafficPolicy.loadBalancer"),
        "{err}"
    );
    assert!(err.message.contains("FASTEST"), "{err}");
}

#[test]
fn broken_yaml_fails_only_its_document() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n";
    let parsed = parse_file("f.yaml", text);
    assert_eq!(parsed.objects.len(), 2);
    let [err] = parsed.errors.as_slice() else {
        panic!("{:?}", parsed.errors)
    };
    assert_eq!(err.location.document, 2);
    assert!(err.object.is_none());
    assert!(err.message.starts_with("invalid YAML"), "{err}");
}

#[test]
fn missing_name_and_bad_api_version_are_errors() {
    let parsed = parse_file("f.yaml", "apiVersion: v1\nkind: Service\nmetadata: {}\n");
    assert_eq!(parsed.errors[0].field.as_deref(), Some("metadata.name"));
    let parsed = parse_file(
        "f.yaml",
        "apiVersion: networking.istio.io/v1alpha2\nkind: VirtualService\nmetadata: {name: a}\n",
    );
    assert_eq!(parsed.errors[0].field.as_deref(), Some("apiVersion"));
    assert!(
        parsed.errors[0].message.contains("networking.istio.io/v1"),
        "{}",
        parsed.errors[0]
    );
    let parsed = parse_file("f.yaml", "- a\n- b\n");
    assert!(parsed.errors[0].message.contains("not a mapping"));
}

#[test]
fn status_is_ignored_and_missing_spec_is_empty() {
    let text = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny-all, namespace: x}\nstatus: {validationMessages: []}\n";
    let parsed = parse_file("f.yaml", text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.objects.len(), 1);
}

#[test]
fn unknown_top_level_field_is_an_error() {
    let text =
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: g}\nspecc: {}\n";
    let parsed = parse_file("f.yaml", text);
    assert!(
        parsed.errors[0].message.contains("unknown field `specc`"),
        "{}",
        parsed.errors[0]
    );
}

#[test]
fn null_fields_are_unset_fields_as_the_api_server_treats_them() {
    let text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, labels: null}\nspec:\n  hosts: [r]\n  gateways: null\n  http:\n  - route: [{destination: {host: r}}]\n    retries: null\n";
    let parsed = parse_file("helm.yaml", text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let text = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  gateways: null\n  http:\n  - route: [{destination: {host: r}, weight: x}]\n";
    let err = &parse_file("helm.yaml", text).errors[0];
    assert_eq!(
        err.field.as_deref(),
        Some("spec.http[0].route[0].weight"),
        "{err}"
    );
}

#[test]
fn kubectl_list_output_is_read_item_by_item() {
    let text = "apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n- apiVersion: networking.istio.io/v1\n  kind: VirtualService\n  metadata: {name: a, namespace: x, resourceVersion: \"12\", uid: 0b1c}\n  spec: {hosts: [a]}\n- apiVersion: networking.istio.io/v1\n  kind: DestinationRule\n  metadata: {name: b, namespace: x}\n  spec: {hots: b}\n";
    let parsed = parse_file("get.yaml", text);
    assert_eq!(parsed.objects.len(), 1);
    assert_eq!(
        parsed.objects[0].object.object_ref().to_string(),
        "VirtualService x/a"
    );
    let [err] = parsed.errors.as_slice() else {
        panic!("{:?}", parsed.errors)
    };
    assert_eq!(err.field.as_deref(), Some("items[1].spec.hots"), "{err}");
    assert_eq!(err.location.line, 1);
}

#[test]
fn a_status_the_schema_does_not_know_is_no_error() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{name: http, port: 80}]}\nstatus:\n  conditions: [{type: istio.io/WaypointBound, status: 'False'}]\n";
    let parsed = parse_file("svc.yaml", text);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    assert_eq!(parsed.objects.len(), 1);
}

#[test]
fn error_lines_count_the_comments_before_a_document() {
    let text = "# a header\n# more\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec:\n  hosts: [r]\n  http:\n  - route: [{destination: {host: r}, weight: x}]\n";
    let err = &parse_file("c.yaml", text).errors[0];
    assert_eq!(err.location.line, 9, "{err}");
}

const KUBERNETES: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  namespace: ignored
  labels: {istio-injection: enabled}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec:
  serviceAccountName: web
  containers: [{name: app, image: web, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.1.0.1]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: web-0, namespace: shop}
"#;

#[test]
fn pods_endpoint_slices_and_namespaces_parse_and_namespaces_are_cluster_scoped() {
    let parsed = parse_file("kube.yaml", KUBERNETES);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let refs: Vec<String> = parsed
        .objects
        .iter()
        .map(|o| o.object.object_ref().to_string())
        .collect();
    assert_eq!(
        refs,
        [
            "Namespace shop",
            "Pod shop/web-0",
            "EndpointSlice default/web-abc"
        ]
    );
    assert_eq!(parsed.objects[0].object.object_ref().namespace, "");
    assert_eq!(parsed.objects[0].object.metadata().namespace, None);
    let MeshObject::EndpointSlice(slice) = &parsed.objects[2].object else {
        panic!("{:?}", parsed.objects[2].object)
    };
    assert_eq!(slice.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(slice.endpoints[0].addresses, ["10.1.0.1"]);
}

#[test]
fn kubernetes_kinds_report_file_document_object_field_and_line() {
    let text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-abc, namespace: shop}\naddressType: IPv4\nports:\n- name: http\n  port: eighty\nendpoints: []\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-0}\nspec: {containers: [{name: app, ports: [{containerPort: http}]}]}\n";
    let parsed = parse_file("kube.yaml", text);
    assert!(parsed.objects.is_empty());
    let [slice, pod] = parsed.errors.as_slice() else {
        panic!("{:?}", parsed.errors)
    };
    assert_eq!(slice.location.document, 1);
    assert_eq!(slice.location.line, 7);
    assert_eq!(slice.field.as_deref(), Some("ports[0].port"));
    assert_eq!(
        slice.object.as_ref().map(ToString::to_string).as_deref(),
        Some("EndpointSlice shop/web-abc")
    );
    assert_eq!(pod.location.document, 2);
    assert_eq!(
        pod.object.as_ref().map(ToString::to_string).as_deref(),
        Some("Pod default/web-0")
    );
    assert_eq!(
        pod.field.as_deref(),
        Some("spec.containers[0].ports[0].containerPort")
    );
}
