//! Golden tests (pod in, pod out, over the annotation matrix) and the rules.
//!
//! The golden files are `testdata/<case>.out.yaml`; after an intended change,
//! regenerate them with `MESH_UPDATE_GOLDEN=1 cargo test -p mesh-api inject` and
//! read the diff.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;

use super::*;

const OLD: KubernetesVersion = KubernetesVersion {
    major: 1,
    minor: 28,
};
const NEW: KubernetesVersion = KubernetesVersion {
    major: 1,
    minor: 33,
};

/// (golden name, input, apiserver version, config change).
type Case = (
    &'static str,
    &'static str,
    KubernetesVersion,
    fn(&mut InjectionConfig),
);

const CASES: &[Case] = &[
    ("app-native", "app", NEW, |_| {}),
    ("app-classic", "app", OLD, |_| {}),
    ("traffic-native", "traffic", NEW, |_| {}),
    ("job-native", "job", NEW, |_| {}),
    ("job-classic", "job", OLD, |_| {}),
    ("hold-classic", "hold", OLD, |_| {}),
    ("hold-native", "hold", NEW, |_| {}),
    ("hold-config-classic", "app", NEW, |c| {
        c.hold_application_until_proxy_starts = true;
        c.native_sidecar = NativeSidecarMode::Disabled;
    }),
    ("no-interception", "no-interception", NEW, |_| {}),
];

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("src/inject/testdata/{name}"))
}

pub(crate) fn read_pod(name: &str) -> Pod {
    let text = std::fs::read_to_string(testdata(&format!("{name}.in.yaml"))).expect("input");
    serde_norway::from_str(&text).expect("a pod")
}

#[test]
fn injected_pods_match_the_golden_files() {
    let update = std::env::var_os("MESH_UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for (name, input, version, change) in CASES {
        let mut config = InjectionConfig::default();
        change(&mut config);
        let pod = read_pod(input);
        let out = inject(&pod, &workload_name(&pod), &config, Some(*version)).expect("injects");
        let got = serde_norway::to_string(&out).expect("yaml");
        let path = testdata(&format!("{name}.out.yaml"));
        if update {
            std::fs::write(&path, &got).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != got {
            failures.push(format!("{name}:\n{got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "differs from the golden files (MESH_UPDATE_GOLDEN=1 to regenerate):\n{}",
        failures.join("\n")
    );
}

#[test]
fn injection_is_idempotent() {
    let config = InjectionConfig::default();
    let pod = read_pod("app");
    let once = inject(&pod, "reviews-v1", &config, Some(NEW)).expect("injects");
    assert!(is_injected(&once));
    let decision = decide(&once, "shop", NamespaceInjection::Enabled, &config);
    assert_eq!(decision, Decision::Skip(SkipReason::AlreadyInjected));
}

fn pod(labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Pod {
    let map = |kv: &[(&str, &str)]| {
        Some(
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    };
    let mut pod = read_pod("traffic");
    pod.metadata.labels = map(labels);
    pod.metadata.annotations = map(annotations);
    pod
}

#[test]
fn pod_label_wins_over_annotation_and_namespace() {
    let config = InjectionConfig::default();
    let p = pod(&[(POD_INJECT, "false")], &[(POD_INJECT, "true")]);
    let d = decide(&p, "shop", NamespaceInjection::Enabled, &config);
    assert_eq!(
        d,
        Decision::Skip(SkipReason::PodOptedOut(POD_INJECT.into()))
    );
    let p = pod(&[], &[(MESH_POD_INJECT, "true")]);
    let d = decide(&p, "shop", NamespaceInjection::Unset, &config);
    assert_eq!(
        d,
        Decision::Inject(InjectReason::PodAsked(MESH_POD_INJECT.into()))
    );
    let p = pod(&[(POD_INJECT, "maybe")], &[]);
    let d = decide(&p, "shop", NamespaceInjection::Enabled, &config);
    assert_eq!(
        d,
        Decision::Inject(InjectReason::NamespaceEnabled),
        "bad values are ignored"
    );
}

#[test]
fn disabled_namespace_host_network_and_system_namespaces_are_never_injected() {
    let config = InjectionConfig::default();
    let asks = pod(&[(POD_INJECT, "true")], &[]);
    let d = decide(&asks, "shop", NamespaceInjection::Disabled, &config);
    assert_eq!(d, Decision::Skip(SkipReason::NamespaceDisabled));
    let d = decide(&asks, "kube-system", NamespaceInjection::Enabled, &config);
    assert_eq!(d, Decision::Skip(SkipReason::IgnoredNamespace));
    let mut host = asks.clone();
    host.spec.as_mut().expect("spec").host_network = Some(true);
    let d = decide(&host, "shop", NamespaceInjection::Enabled, &config);
    assert_eq!(d, Decision::Skip(SkipReason::HostNetwork));
}

#[test]
fn namespace_labels_enable_and_disable() {
    let labels = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ns = |kv| NamespaceInjection::from_labels(&labels(kv));
    assert_eq!(
        ns(&[("istio-injection", "enabled")]),
        NamespaceInjection::Enabled
    );
    assert_eq!(
        ns(&[("mesh.dev/inject", "enabled")]),
        NamespaceInjection::Enabled
    );
    assert_eq!(
        ns(&[
            ("mesh.dev/inject", "enabled"),
            ("istio-injection", "disabled")
        ]),
        NamespaceInjection::Disabled
    );
    assert_eq!(ns(&[]), NamespaceInjection::Unset);
    let config = InjectionConfig::default();
    let plain = pod(&[("app", "a")], &[]);
    let d = decide(&plain, "shop", NamespaceInjection::Unset, &config);
    assert_eq!(d, Decision::Skip(SkipReason::NotEnabled));
}

#[test]
fn never_and_always_selectors_apply_when_the_pod_does_not_say() {
    let config = InjectionConfig::from_yaml(
        "neverInjectSelector: [{matchLabels: {role: batch}}]\n\
         alwaysInjectSelector: [{matchExpressions: [{key: tier, operator: In, values: [web]}]}]\n",
    )
    .expect("config");
    let batch = pod(&[("role", "batch")], &[]);
    let d = decide(&batch, "shop", NamespaceInjection::Enabled, &config);
    assert_eq!(d, Decision::Skip(SkipReason::NeverInjectSelector));
    let batch_asks = pod(&[("role", "batch"), (POD_INJECT, "true")], &[]);
    let d = decide(&batch_asks, "shop", NamespaceInjection::Enabled, &config);
    assert!(matches!(d, Decision::Inject(_)), "{d}");
    let web = pod(&[("tier", "web")], &[]);
    let d = decide(&web, "shop", NamespaceInjection::Unset, &config);
    assert_eq!(d, Decision::Inject(InjectReason::AlwaysInjectSelector));
}

#[test]
fn probes_keep_the_originals_with_named_ports_resolved() {
    let out = inject(
        &read_pod("app"),
        "reviews-v1",
        &InjectionConfig::default(),
        Some(NEW),
    )
    .expect("injects");
    let spec = out.spec.expect("spec");
    let proxy = spec
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == PROXY_CONTAINER);
    let env = proxy.and_then(|p| p.env.clone()).unwrap_or_default();
    let probers = env
        .iter()
        .find(|e| e.name == APP_PROBERS_ENV)
        .and_then(|e| e.value.clone());
    let probers: BTreeMap<String, AppProber> =
        serde_json::from_str(&probers.expect("probers")).expect("json");
    let ready = &probers["/app-health/reviews/readyz"];
    let http = ready.http_get.as_ref().expect("http");
    assert_eq!(
        http.port,
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9080)
    );
    assert_eq!(ready.timeout_seconds, 2);
    assert!(probers["/app-health/reviews/livez"].tcp_socket.is_some());
    let pre_stop = probers["/app-lifecycle/reviews/prestopz"].http_get.as_ref();
    assert_eq!(pre_stop.map(|h| h.path.as_deref()), Some(Some("/shutdown")));
    assert!(
        !probers.contains_key("/app-lifecycle/reviews/poststartz"),
        "exec stays"
    );
    let grpc = probers["/app-health/cache/livez"].grpc.as_ref();
    assert_eq!(
        grpc.map(|g| g.port),
        Some(6379),
        "gRPC probes too, as Istio's"
    );
    let app = &spec.containers[0];
    let rewritten = app
        .readiness_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("http");
    assert_eq!(
        rewritten.path.as_deref(),
        Some("/app-health/reviews/readyz")
    );
    let startup = app
        .startup_probe
        .as_ref()
        .and_then(|p| p.http_get.as_ref())
        .expect("http");
    assert_eq!(
        startup.scheme.as_deref(),
        Some("HTTP"),
        "the proxy speaks HTTPS to the app"
    );
}

#[test]
fn bad_annotations_name_the_annotation() {
    let p = pod(
        &[],
        &[("traffic.sidecar.istio.io/excludeOutboundPorts", "25,smtp")],
    );
    let e = inject(&p, "x", &InjectionConfig::default(), None).expect_err("bad port");
    assert!(
        e.to_string()
            .contains("traffic.sidecar.istio.io/excludeOutboundPorts"),
        "{e}"
    );
    let p = pod(
        &[],
        &[(
            "traffic.sidecar.istio.io/includeOutboundIPRanges",
            "10.0.0.0",
        )],
    );
    assert!(inject(&p, "x", &InjectionConfig::default(), None).is_err());
}

#[test]
fn config_defaults_and_kubernetes_versions() {
    let config = InjectionConfig::from_yaml("").expect("empty is the default");
    assert_eq!(config, InjectionConfig::default());
    let e = InjectionConfig::from_yaml("proxyImag: x").expect_err("typo");
    assert!(e.contains("proxyImag"), "{e}");
    let c = InjectionConfig::from_yaml("nativeSidecar: false").expect("bool");
    assert_eq!(c.native_sidecar, NativeSidecarMode::Disabled);
    let v: KubernetesVersion = "v1.30.2-gke.1".parse().expect("version");
    assert_eq!(
        v,
        KubernetesVersion {
            major: 1,
            minor: 30
        }
    );
    let v: KubernetesVersion = "1.29+".parse().expect("version");
    assert!(v >= KubernetesVersion::NATIVE_SIDECARS);
    assert!("one".parse::<KubernetesVersion>().is_err());
}

#[test]
fn workload_names_follow_the_owner() {
    assert_eq!(workload_name(&read_pod("app")), "reviews-v1");
    assert_eq!(workload_name(&read_pod("job")), "backup");
    assert_eq!(workload_name(&read_pod("traffic")), "ratings");
}
