//! Debouncing, and incremental snapshots against full translations.

use super::*;

fn snapshot(version: u64) -> Arc<ConfigSnapshot> {
    Arc::new(ConfigSnapshot {
        version,
        ..Default::default()
    })
}

#[tokio::test(start_paused = true)]
async fn bursts_of_changes_become_one_push_of_the_latest() {
    let (config_tx, config_rx) = watch::channel(snapshot(1));
    let (push_tx, mut push_rx) = watch::channel(snapshot(1));
    let (_stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(debounce(
        config_rx,
        push_tx,
        Duration::from_millis(100),
        stop_rx,
    ));
    for v in 2..=5 {
        config_tx.send_replace(snapshot(v));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(push_rx.borrow().version, 1, "pushed during the burst");
    }
    push_rx.changed().await.unwrap();
    assert_eq!(push_rx.borrow_and_update().version, 5);
}

#[tokio::test(start_paused = true)]
async fn a_steady_trickle_of_changes_is_pushed_at_the_latest_after_the_max_delay() {
    let (config_tx, config_rx) = watch::channel(snapshot(1));
    let (push_tx, push_rx) = watch::channel(snapshot(1));
    let (_stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(debounce(
        config_rx,
        push_tx,
        Duration::from_millis(100),
        stop_rx,
    ));
    let start = Instant::now();
    let mut v = 1;
    while push_rx.borrow().version == 1 {
        v += 1;
        config_tx.send_replace(snapshot(v));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            start.elapsed() < Duration::from_millis(1200),
            "never pushed"
        );
    }
}

mod incremental {
    //! Snapshots made from the last one (incremental EDS, scoped pushes, reuse)
    //! equal those translated from scratch, over random sequences of changes, and
    //! say truthfully what changed.

    use std::collections::BTreeSet;

    use mesh_api::manifest::parse_file;
    use mesh_api::model::MeshSettings;
    use mesh_api::test_support::Rng;

    use super::*;
    use crate::config::{ConfigEvent, ConfigState, Origin};
    use crate::xds::server::AdsServer;

    /// Puts `yaml` (one object, or nothing) as the whole of file `name`.
    fn file(name: &str, yaml: &str) -> ConfigEvent {
        let parsed = parse_file(name, yaml);
        assert!(parsed.errors.is_empty(), "{yaml}: {:?}", parsed.errors);
        ConfigEvent::reset_to_file(Origin::File(name.to_string()), parsed)
    }

    const BASE: &str = "
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: a}
spec: {selector: {app: api}, ports: [{name: grpc, port: 90}], clusterIP: 10.96.0.9}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: b}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vms, namespace: a}
spec:
  hosts: [vms.example.internal]
  location: MESH_INTERNAL
  resolution: DNS
  ports: [{number: 8000, name: http, protocol: HTTP}]
  workloadSelector: {labels: {vm: \"true\"}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: a}
spec:
  host: web.a.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
";

    fn workload(rng: &mut Rng, name: &str) -> String {
        let ns = ["a", "b"][rng.below(2)];
        if rng.below(5) == 0 {
            return String::new();
        }
        let app = ["web", "api"][rng.below(2)];
        let vm = if rng.below(4) == 0 {
            ", vm: \"true\""
        } else {
            ""
        };
        format!(
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {{name: {name}, namespace: {ns}}}\n\
             spec: {{address: 10.0.{}.{}, labels: {{app: {app}, version: v{}{vm}}}}}\n",
            rng.below(2),
            rng.below(6),
            1 + rng.below(2)
        )
    }

    fn routing(rng: &mut Rng) -> String {
        let ns = ["a", "b"][rng.below(2)];
        let export = ["", "exportTo: [\".\"]", "exportTo: [a]"][rng.below(3)];
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: web, namespace: {ns}}}\n\
             spec:\n  hosts: [web.a.svc.cluster.local]\n  {export}\n  \
             http: [{{timeout: {}s, route: [{{destination: {{host: web.a.svc.cluster.local, subset: v{}}}}}]}}]\n",
            1 + rng.below(5),
            1 + rng.below(2)
        )
    }

    fn proxies() -> Vec<Arc<ProxyNode>> {
        let node = |ip: &str, pod: &str, ns: &str, labels: serde_json::Value| {
            let id = ProxyNode::sidecar_id(ip, pod, ns);
            let meta = serde_json::json!({ "LABELS": labels });
            Arc::new(ProxyNode::parse(&id, &meta).expect("a valid node"))
        };
        vec![
            // Runs as a WorkloadEntry the changes move, relabel and remove.
            node("10.0.0.1", "w0", "a", serde_json::json!({})),
            node("10.0.1.3", "w1", "b", serde_json::json!({})),
            // Clients without a WorkloadEntry, in each namespace.
            node(
                "10.9.0.1",
                "client",
                "a",
                serde_json::json!({"app": "client"}),
            ),
            node(
                "10.9.0.2",
                "client",
                "b",
                serde_json::json!({"app": "client"}),
            ),
        ]
    }

    fn versions(s: &ProxySnapshot, ty: XdsType) -> Vec<(String, String)> {
        s.resources(ty)
            .values()
            .map(|r| (r.name.clone(), r.version.clone()))
            .collect()
    }

    #[tokio::test]
    async fn incremental_snapshots_equal_full_translations_and_say_what_changed() {
        let mut state = ConfigState::new(MeshSettings::default());
        let mut rng = Rng::new(0x2545_f491_4f6c_dd1d);
        let mut events = vec![file("base.yaml", BASE)];
        for i in 0..6 {
            events.push(file(
                &format!("w{i}.yaml"),
                &workload(&mut rng, &format!("w{i}")),
            ));
        }
        let first = Arc::new(state.apply(events).expect("the first batch").clone());
        let (_config_tx, config_rx) = watch::channel(first.clone());
        let server = AdsServer::start(config_rx, Duration::ZERO);
        let shared = server.shared.clone();
        let nodes = proxies();
        let mut current = Vec::new();
        for node in &nodes {
            current.push(proxy_snapshot(&shared, &first, node, None).await.unwrap());
        }
        let (mut derived, mut unchanged, mut patched) = (0, 0, 0);
        for step in 0..200 {
            let events = match rng.below(8) {
                0 => vec![file("routing.yaml", &routing(&mut rng))],
                1 if rng.below(4) == 0 => vec![file(
                    "base.yaml",
                    &BASE.replace("port: 90", &format!("port: {}", 90 + rng.below(2))),
                )],
                _ => (0..1 + rng.below(2))
                    .map(|_| {
                        let i = rng.below(6);
                        file(&format!("w{i}.yaml"), &workload(&mut rng, &format!("w{i}")))
                    })
                    .collect(),
            };
            let Some(config) = state.apply(events) else {
                continue;
            };
            let config = Arc::new(config.clone());
            for (node, previous) in nodes.iter().zip(current.iter_mut()) {
                let incremental = proxy_snapshot(&shared, &config, node, Some(previous))
                    .await
                    .unwrap();
                let full = proxy_snapshot(&shared, &config, node, None).await.unwrap();
                for ty in XdsType::PUSH_ORDER {
                    assert_eq!(
                        versions(&incremental, ty),
                        versions(&full, ty),
                        "step {step}, {node}, {}: the incremental snapshot differs",
                        ty.short_name()
                    );
                }
                if let Some(change) = incremental.change_from(previous.config_version) {
                    derived += 1;
                    for ty in XdsType::PUSH_ORDER {
                        let (before, after) = (versions(previous, ty), versions(&incremental, ty));
                        match &change[ty] {
                            TypeChange::Unchanged => {
                                unchanged += 1;
                                assert_eq!(before, after, "step {step}, {node}: said unchanged");
                            }
                            TypeChange::Resources(names) => {
                                patched += 1;
                                let changed: BTreeSet<String> = after
                                    .iter()
                                    .filter(|r| !before.contains(r))
                                    .map(|(name, _)| name.clone())
                                    .collect();
                                assert!(
                                    changed.is_subset(names),
                                    "step {step}, {node}: {changed:?} changed, said {names:?}"
                                );
                                let names_of = |v: &[(String, String)]| {
                                    v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
                                };
                                assert_eq!(names_of(&before), names_of(&after));
                            }
                            TypeChange::Any => {}
                        }
                    }
                }
                *previous = incremental;
            }
        }
        // Every kind of shortcut was taken, many times.
        assert!(
            derived > 200 && unchanged > 200 && patched > 50,
            "derived {derived}, unchanged {unchanged}, patched {patched}"
        );
    }
}
