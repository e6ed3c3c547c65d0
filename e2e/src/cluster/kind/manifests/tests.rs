use serde_json::json;

use super::*;
use crate::cluster::spec::{EXCLUDE_INBOUND_PORTS, PodSpec};
use crate::control_plane::dedent;
use crate::scenarios::{self, mtls};

const IMAGE: &str = "ghcr.io/mesh-dev/mesh-sample-app:0.1.0";

fn web() -> PodSpec {
    PodSpec::sample_app("web-v1-0", "mesh", "web", "v1", &["http://db:9080/"])
        .service_account("web")
}

#[test]
fn namespaces_are_injected_and_labelled_as_the_suites() {
    let ns = namespace("mesh");
    assert_eq!(ns["metadata"]["labels"]["mesh.dev/inject"], "enabled");
    assert_eq!(ns["metadata"]["labels"]["mesh.dev/e2e"], "kind");
    let sa = service_account("web", "mesh");
    assert_eq!(
        (sa["kind"].as_str(), sa["metadata"]["namespace"].as_str()),
        (Some("ServiceAccount"), Some("mesh"))
    );
}

#[test]
fn a_meshed_pod_keeps_its_labels_ports_and_account_and_waits_for_its_proxy() {
    let pod = pod(&web().annotation(EXCLUDE_INBOUND_PORTS, "9000"), IMAGE).expect("pod");
    let meta = &pod["metadata"];
    assert_eq!(
        (meta["name"].as_str(), meta["namespace"].as_str()),
        (Some("web-v1-0"), Some("mesh"))
    );
    assert_eq!(meta["labels"]["app"], "web");
    assert_eq!(meta["labels"]["version"], "v1");
    assert!(meta["labels"].get("mesh.dev/inject").is_none(), "{meta}");
    assert!(
        meta["labels"].get("sidecar.istio.io/inject").is_none(),
        "{meta}"
    );
    // Istio's annotations pass through for the injector to read.
    assert_eq!(meta["annotations"][EXCLUDE_INBOUND_PORTS], "9000");
    let config: serde_json::Value = serde_json::from_str(
        meta["annotations"]["proxy.istio.io/config"]
            .as_str()
            .unwrap_or("{}"),
    )
    .expect("proxy config is JSON");
    assert_eq!(config["holdApplicationUntilProxyStarts"], true);

    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccountName"], "web");
    let app = &spec["containers"][0];
    assert_eq!(
        spec["containers"].as_array().map(Vec::len),
        Some(1),
        "the injector adds the sidecar"
    );
    assert_eq!(app["name"], "app");
    assert_eq!(app["image"], IMAGE);
    assert_eq!(
        app["command"],
        json!(["mesh-sample-app", "serve", "--upstream", "http://db:9080/"])
    );
    assert_eq!(
        app["ports"],
        json!([
            {"name": "http", "containerPort": 9080, "protocol": "TCP"},
            {"name": "grpc", "containerPort": 9090, "protocol": "TCP"},
            {"name": "tcp", "containerPort": 9000, "protocol": "TCP"},
        ])
    );
    assert_eq!(
        app["securityContext"]["runAsUser"], 1000,
        "the app's traffic is captured"
    );
    assert_eq!(
        app["lifecycle"]["preStop"]["exec"]["command"],
        json!(["sleep", "5"])
    );
}

#[test]
fn the_app_gets_the_downward_api_and_its_own_environment() {
    let pod = pod(&web(), IMAGE).expect("pod");
    let env = pod["spec"]["containers"][0]["env"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let field = |name: &str| {
        env.iter()
            .find(|e| e["name"] == name)
            .map(|e| e["valueFrom"]["fieldRef"]["fieldPath"].clone())
    };
    assert_eq!(field("POD_NAME"), Some(json!("metadata.name")));
    assert_eq!(field("POD_NAMESPACE"), Some(json!("metadata.namespace")));
    assert_eq!(field("POD_IP"), Some(json!("status.podIP")));
    assert_eq!(
        field("SERVICE_ACCOUNT"),
        Some(json!("spec.serviceAccountName"))
    );
    assert!(
        env.contains(&json!({"name": "MESH_SAMPLE_NAME", "value": "web"})),
        "{env:?}"
    );
    assert!(
        env.contains(&json!({"name": "MESH_SAMPLE_VERSION", "value": "v1"})),
        "{env:?}"
    );
}

#[test]
fn readiness_is_every_declared_port_listening_on_the_loopback() {
    let pod = pod(&web(), IMAGE).expect("pod");
    let probe = &pod["spec"]["containers"][0]["readinessProbe"]["exec"]["command"];
    let script = probe[2].as_str().unwrap_or_default();
    assert_eq!(probe[0], "bash");
    for port in [9080, 9090, 9000] {
        assert!(
            script.contains(&format!("/dev/tcp/127.0.0.1/{port}")),
            "{script}"
        );
    }
    let portless =
        PodSpec::new("job", "mesh").command(&["mesh-sample-app", "request", "http://web:9080/"]);
    let pod = super::pod(&portless, IMAGE).expect("pod");
    assert!(pod["spec"]["containers"][0].get("readinessProbe").is_none());
}

#[test]
fn a_pod_out_of_the_mesh_opts_out_with_both_labels() {
    let outsider = PodSpec::sample_app("outsider-0", "mesh", "outsider", "v1", &[]).sidecar(false);
    let pod = pod(&outsider, IMAGE).expect("pod");
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["mesh.dev/inject"], "false");
    assert_eq!(labels["sidecar.istio.io/inject"], "false");
    assert!(
        pod["metadata"]["annotations"]
            .get("proxy.istio.io/config")
            .is_none()
    );
}

#[test]
fn envoy_sidecars_and_commandless_pods_are_refused_with_the_reason() {
    let envoy = pod(&web().envoy_sidecar(), IMAGE).expect_err("no Envoy injection on kind");
    assert!(
        envoy.to_string().contains("mesh/web-v1-0") && envoy.to_string().contains("local cluster"),
        "{envoy}"
    );
    let empty = pod(&PodSpec::new("x", "mesh"), IMAGE).expect_err("no command");
    assert!(empty.to_string().contains("no command"), "{empty}");
}

#[test]
fn scenario_files_become_labelled_objects_with_their_namespaces() {
    let yaml = dedent(&format!(
        "{}\n---\n{}",
        scenarios::WEB_SERVICE,
        mtls::STRICT
    ));
    let docs = documents("web.yaml", &yaml).expect("parses");
    let keys = object_keys("web.yaml", &docs).expect("keys");
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].kubectl_name(), "service/web");
    assert_eq!(
        keys[1].kubectl_name(),
        "peerauthentication.security.istio.io/default"
    );
    assert_eq!(
        keys[1].to_string(),
        "PeerAuthentication mesh-system/default"
    );
    assert_eq!(
        namespaces_of(&keys),
        BTreeSet::from(["mesh".to_string(), "mesh-system".to_string()])
    );
    let list = labelled_list(&docs);
    assert_eq!(list["kind"], "List");
    for item in list["items"].as_array().into_iter().flatten() {
        assert_eq!(item["metadata"]["labels"]["mesh.dev/e2e"], "kind", "{item}");
    }
    assert_eq!(
        list["items"][0]["spec"]["selector"]["app"], "web",
        "the rest is unchanged"
    );
}

#[test]
fn objects_without_a_namespace_land_in_default_and_bad_files_name_the_document() {
    let docs = documents("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: n}\n").expect("parses");
    let keys = object_keys("a.yaml", &docs).expect("keys");
    assert_eq!(
        (keys[0].namespace.as_str(), keys[1].namespace.as_str()),
        ("default", "")
    );
    assert!(namespaces_of(&keys).contains("default") && !namespaces_of(&keys).contains(""));
    let nameless = documents("b.yaml", "apiVersion: v1\nkind: Service\n").expect("parses");
    let err = object_keys("b.yaml", &nameless).expect_err("no name");
    assert!(
        err.to_string().contains("b.yaml")
            && err.to_string().contains("document 0 has no metadata.name"),
        "{err}"
    );
    let broken = documents("c.yaml", "kind: [unclosed").expect_err("bad YAML");
    assert!(broken.to_string().contains("c.yaml"), "{broken}");
}

#[test]
fn applying_a_file_again_deletes_what_it_no_longer_holds() {
    let key = |kind: &str, name: &str| ObjectKey {
        api_version: "networking.istio.io/v1".to_string(),
        kind: kind.to_string(),
        namespace: "mesh".to_string(),
        name: name.to_string(),
    };
    let before = [key("VirtualService", "web"), key("DestinationRule", "web")];
    let after = [key("VirtualService", "web")];
    assert_eq!(removed(&before, &after), [key("DestinationRule", "web")]);
    assert!(removed(&after, &before).is_empty());
    let names = delete_names(&before);
    assert_eq!(
        names["mesh"],
        [
            "virtualservice.networking.istio.io/web",
            "destinationrule.networking.istio.io/web"
        ]
    );
}
