//! Incremental updates equal a build from scratch, over random sequences of changes
//! of every kind the update treats specially, and say what they changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::*;
use crate::model::MeshSettings;
use crate::test_support::{Rng, object};

const NAMESPACES: [&str; 2] = ["a", "b"];
const APPS: [&str; 3] = ["web", "api", "db"];

/// The fixed part of the mesh: services selecting by app, a ServiceEntry selecting
/// workloads and one with inline endpoints, a mesh-wide and a selecting policy.
fn base() -> Vec<(ObjectRef, Arc<MeshObject>)> {
    let mut objects = Vec::new();
    for ns in NAMESPACES {
        for app in APPS {
            objects.push(object(&format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {app}, namespace: {ns}}}\n\
                 spec: {{selector: {{app: {app}}}, ports: [{{name: http, port: 80, targetPort: 8080}}]}}\n"
            )));
        }
        objects.push(object(&format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {{name: vms, namespace: {ns}}}\n\
             spec: {{hosts: [vms.{ns}.example], location: MESH_INTERNAL, resolution: STATIC,\n  \
             ports: [{{number: 90, name: http, protocol: HTTP}}], workloadSelector: {{labels: {{vm: \"true\"}}}}}}\n"
        )));
    }
    objects.push(object(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
         metadata: {name: ext, namespace: a}\n\
         spec: {hosts: [ext.example.com], resolution: STATIC, ports: [{number: 443, name: tls, protocol: TLS}],\n  \
         endpoints: [{address: 192.0.2.1}]}\n",
    ));
    objects.push(object(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {name: default, namespace: mesh-system}\nspec: {mtls: {mode: STRICT}}\n",
    ));
    objects.push(object(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {name: db-only, namespace: a}\nspec: {selector: {matchLabels: {app: db}}}\n",
    ));
    objects
}

/// A random change of a WorkloadEntry (added, relabelled, moved, removed).
fn workload_change(rng: &mut Rng) -> ObjectChange {
    let ns = NAMESPACES[rng.below(2)];
    let name = format!("w{}", rng.below(8));
    let object_ref = ObjectRef {
        kind: Kind::WorkloadEntry,
        namespace: ns.to_string(),
        name: name.clone(),
    };
    if rng.below(4) == 0 {
        return ObjectChange {
            object_ref,
            object: None,
        };
    }
    let app = APPS[rng.below(3)];
    let vm = if rng.below(3) == 0 {
        ", vm: \"true\""
    } else {
        ""
    };
    let version = rng.below(2);
    let address = format!("10.0.{}.{}", rng.below(2), rng.below(4));
    let ports = if rng.below(2) == 0 {
        ", ports: {http: 9090}"
    } else {
        ""
    };
    let (r, object) = object(&format!(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
         metadata: {{name: {name}, namespace: {ns}}}\n\
         spec: {{address: \"{address}\", labels: {{app: {app}, version: v{version}{vm}}}{ports}}}\n"
    ));
    assert_eq!(r, object_ref);
    ObjectChange {
        object_ref,
        object: Some(object),
    }
}

/// A random change of a Pod: started, relabelled, moved to another IP (one another
/// pod may hold), finished, removed.
fn pod_change(rng: &mut Rng) -> ObjectChange {
    let ns = NAMESPACES[rng.below(2)];
    let name = format!("p{}", rng.below(6));
    let object_ref = ObjectRef {
        kind: Kind::Pod,
        namespace: ns.to_string(),
        name: name.clone(),
    };
    if rng.below(5) == 0 {
        return ObjectChange {
            object_ref,
            object: None,
        };
    }
    let app = APPS[rng.below(3)];
    let mtls = ["", ", security.istio.io/tlsMode: istio"][rng.below(2)];
    // ServiceEntry workloadSelectors select pods too.
    let vm = ["", "", ", vm: \"true\""][rng.below(3)];
    let account = ["", "serviceAccountName: web, ", "serviceAccountName: api, "][rng.below(3)];
    let ip = format!("10.2.{}.{}", rng.below(2), rng.below(4));
    let status = match rng.below(6) {
        0 => "{phase: Pending}".to_string(),
        1 => format!("{{phase: Succeeded, podIP: {ip}}}"),
        _ => format!("{{phase: Running, podIP: {ip}}}"),
    };
    let ports = ["", ", ports: [{name: http, containerPort: 8080}]"][rng.below(2)];
    let (r, object) = object(&format!(
        "apiVersion: v1\nkind: Pod\n\
         metadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}{mtls}{vm}}}}}\n\
         spec: {{{account}containers: [{{name: app{ports}}}]}}\nstatus: {status}\n"
    ));
    assert_eq!(r, object_ref);
    ObjectChange {
        object_ref,
        object: Some(object),
    }
}

/// A random change of an EndpointSlice: endpoints by pod or address only, ready or
/// not, named or unnamed ports, moved to another service, FQDN, removed.
fn slice_change(rng: &mut Rng) -> ObjectChange {
    let ns = NAMESPACES[rng.below(2)];
    let name = format!("{}-{}", APPS[rng.below(3)], rng.below(2));
    let service = APPS[rng.below(3)];
    let (object_ref, _) = object(&format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: {name}, namespace: {ns}}}\naddressType: IPv4\nendpoints: []\n"
    ));
    if rng.below(5) == 0 {
        return ObjectChange {
            object_ref,
            object: None,
        };
    }
    let address_type = ["IPv4", "IPv4", "IPv4", "FQDN"][rng.below(4)];
    let ports = [
        "[{name: http, port: 8080}]",
        "[{port: 9090}]",
        "[{name: http, port: 8081}, {name: grpc, port: 9000}]",
    ][rng.below(3)];
    let endpoints: Vec<String> = (0..rng.below(4))
        .map(|_| {
            let address = format!("10.2.{}.{}", rng.below(2), rng.below(4));
            let target = match rng.below(3) {
                0 => String::new(),
                _ => format!(
                    ", targetRef: {{kind: Pod, name: p{}, namespace: {ns}}}",
                    rng.below(6)
                ),
            };
            let conditions = [
                "",
                ", conditions: {ready: true}",
                ", conditions: {ready: false}",
                ", conditions: {ready: true, terminating: true}",
            ][rng.below(4)];
            format!("{{addresses: [\"{address}\"]{target}{conditions}}}")
        })
        .collect();
    let (r, object) = object(&format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: {name}, namespace: {ns}, labels: {{kubernetes.io/service-name: {service}}}}}\n\
         addressType: {address_type}\nports: {ports}\nendpoints: [{}]\n",
        endpoints.join(", ")
    ));
    assert_eq!(r, object_ref);
    ObjectChange {
        object_ref,
        object: Some(object),
    }
}

/// A change of a Namespace's labels: nothing the model reads.
fn namespace_change(rng: &mut Rng) -> ObjectChange {
    let (object_ref, object) = object(&format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}, labels: {{istio-injection: {}}}}}\n",
        NAMESPACES[rng.below(2)],
        ["enabled", "disabled"][rng.below(2)]
    ));
    ObjectChange {
        object_ref,
        object: Some(object),
    }
}

/// A random change of a routing object, with every kind of `exportTo`.
fn routing_change(rng: &mut Rng) -> ObjectChange {
    let ns = NAMESPACES[rng.below(2)];
    let host = APPS[rng.below(3)];
    let export = [
        "",
        ", exportTo: [\".\"]",
        ", exportTo: [\"*\"]",
        ", exportTo: [b]",
    ][rng.below(4)];
    let yaml = match rng.below(3) {
        0 => format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: vs-{host}, namespace: {ns}}}\n\
             spec: {{hosts: [{host}.a.svc.cluster.local]{export},\n  \
             http: [{{route: [{{destination: {{host: {host}.a.svc.cluster.local, subset: v{}}}}}]}}]}}\n",
            rng.below(2)
        ),
        1 => format!(
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata: {{name: dr-{host}, namespace: {ns}}}\n\
             spec: {{host: {host}.a.svc.cluster.local{export},\n  \
             subsets: [{{name: v0, labels: {{version: v0}}}}, {{name: v{}, labels: {{version: v1}}}}]}}\n",
            rng.below(3)
        ),
        _ => format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\n\
             metadata: {{name: default, namespace: {ns}}}\n\
             spec: {{egress: [{{hosts: [\"./*\", \"{}/*\"]}}]}}\n",
            NAMESPACES[rng.below(2)]
        ),
    };
    let (object_ref, object) = object(&yaml);
    if rng.below(5) == 0 {
        return ObjectChange {
            object_ref,
            object: None,
        };
    }
    ObjectChange {
        object_ref,
        object: Some(object),
    }
}

/// A change the update cannot do in place: a Service's selector.
fn service_change(rng: &mut Rng) -> ObjectChange {
    let ns = NAMESPACES[rng.below(2)];
    let app = APPS[rng.below(3)];
    let (object_ref, object) = object(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {app}, namespace: {ns}}}\n\
         spec: {{selector: {{app: {}}}, ports: [{{name: http, port: 80}}]}}\n",
        APPS[rng.below(3)]
    ));
    ObjectChange {
        object_ref,
        object: Some(object),
    }
}

fn build(objects: &BTreeMap<ObjectRef, Arc<MeshObject>>) -> MeshModel {
    MeshModel::build(objects.values().cloned(), MeshSettings::default())
}

fn accounts(endpoints: &[super::super::Endpoint]) -> BTreeSet<&str> {
    endpoints
        .iter()
        .filter_map(|e| e.service_account.as_deref())
        .collect()
}

fn endpoints_by_service(model: &MeshModel) -> BTreeMap<String, Vec<super::super::Endpoint>> {
    model
        .services
        .iter()
        .map(|(h, s)| (h.clone(), s.endpoints.clone()))
        .collect()
}

#[test]
fn incremental_updates_equal_a_full_build_and_say_what_changed() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut objects: BTreeMap<ObjectRef, Arc<MeshObject>> = base().into_iter().collect();
    let mut model = build(&objects);
    let (mut in_place, mut routing, mut full) = (0, 0, 0);
    // Steps whose model has slice endpoints with and without their pod.
    let (mut with_pod, mut without_pod) = (0, 0);
    // Steps whose ServiceEntries select pods.
    let mut entries_with_pods = 0;
    for step in 0..1000 {
        let batch: Vec<ObjectChange> = match rng.below(10) {
            0 => vec![service_change(&mut rng)],
            1..=3 => vec![routing_change(&mut rng)],
            _ => (0..1 + rng.below(4))
                .map(|_| match rng.below(7) {
                    0..=1 => workload_change(&mut rng),
                    2..=3 => pod_change(&mut rng),
                    4..=5 => slice_change(&mut rng),
                    _ => namespace_change(&mut rng),
                })
                .collect(),
        };
        for change in &batch {
            match &change.object {
                Some(o) => objects.insert(change.object_ref.clone(), o.clone()),
                None => objects.remove(&change.object_ref),
            };
        }
        let (updated, delta) = model.update(&batch);
        let rebuilt = build(&objects);
        assert!(
            updated == rebuilt,
            "step {step}: the update of {batch:#?} differs from a build:\n\
             updated: {updated:#?}\nrebuilt: {rebuilt:#?}"
        );
        let before = endpoints_by_service(&model);
        let after = endpoints_by_service(&updated);
        let changed_endpoints: BTreeSet<String> = after
            .iter()
            .filter(|(h, e)| before.get(*h) != Some(*e))
            .map(|(h, _)| h.clone())
            .collect();
        if delta.full {
            full += 1;
        } else {
            // Without `full`, the delta must name every service whose endpoints changed.
            assert!(
                changed_endpoints.is_subset(&delta.endpoints),
                "step {step}: {changed_endpoints:?} changed, the delta says {:?}",
                delta.endpoints
            );
            // … and every workload that changed (its services included).
            let changed_workloads: BTreeSet<&ObjectRef> = model
                .workloads
                .iter()
                .filter(|(r, w)| updated.workloads.get(*r) != Some(*w))
                .map(|(r, _)| r)
                .chain(
                    updated
                        .workloads
                        .keys()
                        .filter(|r| !model.workloads.contains_key(*r)),
                )
                .collect();
            assert!(
                changed_workloads
                    .iter()
                    .all(|r| delta.workloads.contains(*r)),
                "step {step}: {changed_workloads:?} changed, the delta says {:?}",
                delta.workloads
            );
            // … and reach every proxy when a service's identities changed.
            let identities_changed = model.services.iter().any(|(h, s)| {
                updated
                    .services
                    .get(h)
                    .is_some_and(|u| accounts(&s.endpoints) != accounts(&u.endpoints))
            });
            if identities_changed {
                assert_eq!(delta.routing, Some(Reach::All), "step {step}");
            }
            if delta.routing.is_some() {
                routing += 1;
            } else if !delta.is_empty() {
                in_place += 1;
                assert!(
                    delta
                        .workloads
                        .iter()
                        .all(|w| matches!(w.kind, Kind::WorkloadEntry | Kind::Pod)),
                    "{delta:?}"
                );
            }
        }
        let slice_endpoints = updated
            .services
            .values()
            .filter(|s| s.origin == crate::model::ServiceOrigin::Kubernetes)
            .flat_map(|s| &s.endpoints);
        let pods: Vec<bool> = slice_endpoints
            .filter(|e| e.workload.as_ref().is_none_or(|w| w.kind == Kind::Pod))
            .map(|e| e.workload.is_some())
            .collect();
        with_pod += usize::from(pods.contains(&true));
        entries_with_pods += usize::from(
            updated
                .services
                .values()
                .filter(|s| matches!(s.origin, crate::model::ServiceOrigin::ServiceEntry(_)))
                .flat_map(|s| &s.endpoints)
                .any(|e| e.workload.as_ref().is_some_and(|w| w.kind == Kind::Pod)),
        );
        without_pod += usize::from(pods.contains(&false));
        model = updated;
    }
    // Every path was taken, many times.
    assert!(
        in_place > 100 && routing > 50 && full > 10,
        "{in_place} {routing} {full}"
    );
    assert!(
        with_pod > 200 && without_pod > 100 && entries_with_pods > 200,
        "{with_pod} {without_pod} {entries_with_pods}"
    );
}

#[test]
fn a_workload_change_updates_only_the_services_that_select_it() {
    let objects: BTreeMap<ObjectRef, Arc<MeshObject>> = base().into_iter().collect();
    let model = build(&objects);
    let (_, add) = object(
        "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
         metadata: {name: web-1, namespace: a}\nspec: {address: 10.1.0.1, labels: {app: web}}\n",
    );
    let r = add.object_ref();
    let (updated, delta) = model.update(&[ObjectChange {
        object_ref: r.clone(),
        object: Some(add),
    }]);
    assert!(!delta.full);
    assert_eq!(
        delta.routing,
        Some(Reach::All),
        "web's first service account is new to its clients' SAN checks"
    );
    assert_eq!(
        delta.endpoints,
        BTreeSet::from(["web.a.svc.cluster.local".to_string()])
    );
    assert_eq!(delta.workloads, BTreeSet::from([r.clone()]));
    let web = &updated.services["web.a.svc.cluster.local"];
    assert_eq!(web.endpoints.len(), 1);
    assert_eq!(web.endpoints[0].ports, BTreeMap::from([(80, 8080)]));
    assert_eq!(updated.workloads[&r].services, ["web.a.svc.cluster.local"]);
    // The mesh-wide PeerAuthentication applies; the AuthorizationPolicy for db does not.
    assert_eq!(updated.workloads[&r].policies.peer_authentications.len(), 1);
    assert!(
        updated.workloads[&r]
            .policies
            .authorization_policies
            .is_empty()
    );
    // Removing it again gives the model back, and says so.
    let (removed, delta) = updated.update(&[ObjectChange {
        object_ref: r.clone(),
        object: None,
    }]);
    assert!(removed == model);
    assert_eq!(delta.endpoints.len(), 1);
    // Applying what is already there changes nothing.
    let same = ObjectChange {
        object_ref: r.clone(),
        object: updated.objects.get(&r).cloned(),
    };
    assert!(updated.update(&[same]).1.is_empty());
}

#[test]
fn only_a_change_of_a_services_accounts_is_more_than_endpoints() {
    let objects: BTreeMap<ObjectRef, Arc<MeshObject>> = base().into_iter().collect();
    let mut model = build(&objects);
    let mut add = |name: &str, account: &str| {
        let (r, we) = object(&format!(
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {{name: {name}, namespace: a}}\n\
             spec: {{address: 10.1.0.9, labels: {{app: api}}, serviceAccount: {account}}}\n"
        ));
        let (updated, delta) = model.update(&[ObjectChange {
            object_ref: r,
            object: Some(we),
        }]);
        model = updated;
        delta
    };
    assert_eq!(add("api-0", "api").routing, Some(Reach::All));
    let same_account = add("api-1", "api");
    assert_eq!(same_account.routing, None, "EDS only");
    assert_eq!(same_account.endpoints.len(), 1);
    assert_eq!(add("api-2", "other").routing, Some(Reach::All));
    // api-0 moves to the account api-1 still has: the set stays {api, other}.
    assert_eq!(add("api-0", "other").routing, None);
}

#[test]
fn routing_changes_reach_the_namespaces_they_are_exported_to() {
    let objects: BTreeMap<ObjectRef, Arc<MeshObject>> = base().into_iter().collect();
    let model = build(&objects);
    let (r, vs) = object(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {name: web, namespace: b}\n\
         spec: {hosts: [web.a.svc.cluster.local], exportTo: [\".\"], http: [{route: [{destination: {host: web.a.svc.cluster.local}}]}]}\n",
    );
    let (updated, delta) = model.update(&[ObjectChange {
        object_ref: r.clone(),
        object: Some(vs),
    }]);
    assert!(!delta.full);
    assert!(delta.reaches_outbound("b") && !delta.reaches_outbound("a"));
    assert_eq!(
        updated.services["web.a.svc.cluster.local"]
            .policies
            .virtual_services,
        [r]
    );
}

#[test]
fn a_namespace_change_is_stored_and_pushes_nothing() {
    let objects: BTreeMap<ObjectRef, Arc<MeshObject>> = base().into_iter().collect();
    let model = build(&objects);
    let (r, namespace) = object(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {istio-injection: enabled}}\n",
    );
    assert_eq!(r.namespace, "", "cluster-scoped");
    let (updated, delta) = model.update(&[ObjectChange {
        object_ref: r.clone(),
        object: Some(namespace),
    }]);
    assert!(delta.is_empty(), "{delta:?}");
    assert!(updated.objects.contains_key(&r));
    assert!(
        !updated.namespaces.contains(""),
        "a Namespace is in no namespace"
    );
    assert!(updated.services == model.services && updated.workloads == model.workloads);
}
