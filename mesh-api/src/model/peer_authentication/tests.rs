use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::security::PeerAuthenticationSpec;
use crate::selector::WorkloadSelector;
use crate::test_support::model_of;

const ROOT: &str = "mesh-system";

/// How a test writes one scope's policy: absent, or with `mtls` missing or a mode.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Written {
    Absent,
    NoMtls,
    Mode(MtlsMode),
}

const ALL_WRITTEN: [Written; 6] = [
    Written::Absent,
    Written::NoMtls,
    Written::Mode(MtlsMode::Unset),
    Written::Mode(MtlsMode::Disable),
    Written::Mode(MtlsMode::Permissive),
    Written::Mode(MtlsMode::Strict),
];

fn policy(
    namespace: &str,
    name: &str,
    selector: bool,
    mtls: Written,
) -> (ObjectRef, PeerAuthentication) {
    let spec = PeerAuthenticationSpec {
        selector: selector.then(|| WorkloadSelector {
            match_labels: [("app".to_string(), "db".to_string())].into(),
        }),
        mtls: match mtls {
            Written::Absent | Written::NoMtls => None,
            Written::Mode(m) => Some(PeerAuthenticationMtls { mode: Some(m) }),
        },
        ..Default::default()
    };
    let mut p = PeerAuthentication::new(name, spec);
    p.metadata.namespace = Some(namespace.to_string());
    let r = ObjectRef {
        kind: Kind::PeerAuthentication,
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    (r, p)
}

fn compose(policies: &[(ObjectRef, PeerAuthentication)]) -> MtlsPolicy {
    compose_peer_authentications(ROOT, policies.iter().map(|(r, p)| (r, p)))
}

fn at(seconds: i64) -> Option<Time> {
    Some(Time(
        k8s_openapi::jiff::Timestamp::from_second(seconds).expect("valid time"),
    ))
}

#[test]
fn no_policy_is_permissive() {
    assert_eq!(compose(&[]), MtlsPolicy::default());
    assert_eq!(MtlsPolicy::default().mode, MtlsMode::Permissive);
}

/// Every combination of mesh, namespace and workload policy: the narrowest scope
/// that sets a mode wins; absent, missing `mtls` and UNSET all inherit.
#[test]
fn narrowest_scope_with_a_mode_wins_in_every_combination() {
    for mesh in ALL_WRITTEN {
        for namespace in ALL_WRITTEN {
            for workload in ALL_WRITTEN {
                let mut policies = Vec::new();
                for (ns, selector, w) in [
                    (ROOT, false, mesh),
                    ("shop", false, namespace),
                    ("shop", true, workload),
                ] {
                    if w != Written::Absent {
                        policies.push(policy(ns, &format!("p-{selector}"), selector, w));
                    }
                }
                let expected = [workload, namespace, mesh]
                    .into_iter()
                    .find_map(|w| match w {
                        Written::Mode(m) if m != MtlsMode::Unset => Some(m),
                        _ => None,
                    })
                    .unwrap_or(MtlsMode::Permissive);
                let got = compose(&policies);
                assert_eq!(
                    got.mode, expected,
                    "mesh {mesh:?}, namespace {namespace:?}, workload {workload:?}"
                );
                assert!(got.ports.is_empty());
            }
        }
    }
}

#[test]
fn port_level_mtls_overrides_the_workload_and_unset_ports_inherit() {
    for workload in ALL_WRITTEN.into_iter().filter(|w| *w != Written::Absent) {
        let mut w = policy("shop", "db", true, workload);
        w.1.spec.port_level_mtls = BTreeMap::from([
            (
                5432,
                PeerAuthenticationMtls {
                    mode: Some(MtlsMode::Disable),
                },
            ),
            (
                8080,
                PeerAuthenticationMtls {
                    mode: Some(MtlsMode::Unset),
                },
            ),
            (9090, PeerAuthenticationMtls { mode: None }),
        ]);
        let got = compose(&[
            policy("shop", "ns", false, Written::Mode(MtlsMode::Strict)),
            w,
        ]);
        let base = match workload {
            Written::Mode(m) if m != MtlsMode::Unset => m,
            _ => MtlsMode::Strict,
        };
        assert_eq!(got.mode, base, "{workload:?}");
        assert_eq!(got.port_mode(5432), MtlsMode::Disable);
        assert_eq!(got.port_mode(8080), base, "UNSET port inherits");
        assert_eq!(got.port_mode(9090), base, "no mode inherits");
        assert_eq!(got.port_mode(1), base, "other ports have the workload's");
    }
}

#[test]
fn port_level_mtls_counts_only_on_selector_policies() {
    let mut mesh = policy(ROOT, "mesh", false, Written::Mode(MtlsMode::Strict));
    let mut ns = policy("shop", "ns", false, Written::NoMtls);
    for p in [&mut mesh, &mut ns] {
        p.1.spec.port_level_mtls = BTreeMap::from([(
            80,
            PeerAuthenticationMtls {
                mode: Some(MtlsMode::Disable),
            },
        )]);
    }
    let got = compose(&[mesh, ns]);
    assert_eq!(got.mode, MtlsMode::Strict);
    assert!(got.ports.is_empty());
    assert_eq!(got.port_mode(80), MtlsMode::Strict);
}

#[test]
fn selector_policies_in_the_root_namespace_are_ignored() {
    let got = compose(&[
        policy(ROOT, "mesh", false, Written::Mode(MtlsMode::Strict)),
        policy(ROOT, "selecting", true, Written::Mode(MtlsMode::Disable)),
    ]);
    assert_eq!(got.mode, MtlsMode::Strict);
}

#[test]
fn the_oldest_policy_of_a_scope_wins_then_the_first_name() {
    let mut newer = policy("shop", "a-newer", false, Written::Mode(MtlsMode::Disable));
    newer.1.metadata.creation_timestamp = at(2_000);
    let mut older = policy("shop", "z-older", false, Written::Mode(MtlsMode::Strict));
    older.1.metadata.creation_timestamp = at(1_000);
    assert_eq!(
        compose(&[newer.clone(), older.clone()]).mode,
        MtlsMode::Strict
    );
    assert_eq!(compose(&[older, newer.clone()]).mode, MtlsMode::Strict);

    // The oldest is chosen before inheritance: an older UNSET policy hides a newer one.
    let mut unset = policy("shop", "old-unset", false, Written::Mode(MtlsMode::Unset));
    unset.1.metadata.creation_timestamp = at(1);
    let got = compose(&[
        policy(ROOT, "mesh", false, Written::Mode(MtlsMode::Strict)),
        unset,
        newer,
    ]);
    assert_eq!(got.mode, MtlsMode::Strict);

    // Same (or no) timestamps: by name.
    let b = policy("shop", "b", true, Written::Mode(MtlsMode::Disable));
    let a = policy("shop", "a", true, Written::Mode(MtlsMode::Strict));
    assert_eq!(compose(&[b.clone(), a.clone()]).mode, MtlsMode::Strict);
    // No timestamp counts as the oldest, as Istio's zero time.
    let mut dated = a;
    dated.1.metadata.creation_timestamp = at(5);
    assert_eq!(compose(&[dated, b]).mode, MtlsMode::Disable);
}

const POLICIES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {selector: {app: db}, ports: [{name: tcp, port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-0, namespace: shop}
spec: {address: 10.0.0.1, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-0, namespace: shop}
spec: {address: 10.0.0.2, labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-0, namespace: other}
spec: {address: 10.0.0.3, labels: {app: db}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: mesh-system}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: shop}
spec: {mtls: {mode: PERMISSIVE}}
---
apiVersion: security.mesh.dev/v1alpha1
kind: PeerAuthentication
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  mtls: {mode: UNSET}
  portLevelMtls: {5432: {mode: DISABLE}}
"#;

#[test]
fn workloads_get_the_policies_that_select_them() {
    let model = model_of(&[("pa.yaml", POLICIES)]);
    let workload = |ns: &str, name: &str| {
        let r = ObjectRef {
            kind: Kind::WorkloadEntry,
            namespace: ns.to_string(),
            name: name.to_string(),
        };
        model.workload_mtls(&model.workloads[&r])
    };
    let db = workload("shop", "db-0");
    assert_eq!(
        db.mode,
        MtlsMode::Permissive,
        "UNSET inherits the namespace's"
    );
    assert_eq!(db.port_mode(5432), MtlsMode::Disable);
    let web = workload("shop", "web-0");
    assert_eq!((web.mode, web.ports.len()), (MtlsMode::Permissive, 0));
    let api = workload("other", "api-0");
    assert_eq!(
        (api.mode, api.ports.len()),
        (MtlsMode::Strict, 0),
        "the mesh's; shop's selector policy stays in shop"
    );
    // A proxy the model has no WorkloadEntry for gets the same from its labels.
    let labels = BTreeMap::from([("app".to_string(), "db".to_string())]);
    assert_eq!(model.mtls_for("shop", &labels), db);
    assert_eq!(model.mtls_for("shop", &BTreeMap::new()), web);
    assert_eq!(model.mtls_for("other", &labels), api);
    assert_eq!(model.namespace_mtls_mode("shop"), MtlsMode::Permissive);
    assert_eq!(model.namespace_mtls_mode("other"), MtlsMode::Strict);
    assert_eq!(model.namespace_mtls_mode("mesh-system"), MtlsMode::Strict);
    let bare = model_of(&[]);
    assert_eq!(bare.namespace_mtls_mode("shop"), MtlsMode::Permissive);
}
