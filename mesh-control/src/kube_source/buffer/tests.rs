//! A watch's lists and changes as config events, through the config store.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use kube::runtime::watcher::Event;
use mesh_api::manifest::{ManifestError, api_location};
use mesh_api::object::{Kind, ObjectRef};

use super::WatchBuffer;
use crate::config::{ConfigStore, KubeWatch, Origin};
use crate::kube_source::convert::{self, Converted};

fn origin() -> Origin {
    Origin::Kubernetes(KubeWatch {
        resource: "services".into(),
        namespace: None,
    })
}

fn service(name: &str, port: i32) -> Converted {
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "namespace": "shop", "resourceVersion": "7"},
        "spec": {"ports": [{"port": port}]}
    }))
    .expect("a Service");
    convert::service(svc).expect("a mesh object")
}

fn reference(name: &str) -> ObjectRef {
    ObjectRef {
        kind: Kind::Service,
        namespace: "shop".into(),
        name: name.into(),
    }
}

fn broken(name: &str) -> Converted {
    Converted {
        object_ref: reference(name),
        outcome: Err(ManifestError {
            location: api_location(),
            object: Some(reference(name)),
            field: Some("spec".into()),
            message: "bad".into(),
        }),
    }
}

/// Feeds events through a buffer into a store, as the source does.
fn feed(buffer: &mut WatchBuffer, store: &mut ConfigStore, events: Vec<Event<Converted>>) {
    for event in events {
        let origin = origin();
        let batch = buffer.on_event(event, |r| {
            store
                .objects_of(&origin)
                .find(|o| &o.object_ref() == r)
                .cloned()
        });
        store.apply(batch);
    }
}

fn names(store: &ConfigStore) -> Vec<String> {
    store
        .objects()
        .iter()
        .map(|o| o.object_ref().name)
        .collect()
}

#[test]
fn nothing_is_applied_until_a_list_is_complete() {
    let mut buffer = WatchBuffer::new(origin());
    let mut store = ConfigStore::default();
    feed(
        &mut buffer,
        &mut store,
        vec![
            Event::Init,
            Event::InitApply(service("a", 80)),
            Event::InitApply(service("b", 80)),
        ],
    );
    assert!(names(&store).is_empty(), "half a list is never in force");
    assert!(!buffer.listed());
    feed(&mut buffer, &mut store, vec![Event::InitDone]);
    assert_eq!(names(&store), ["a", "b"]);
    assert!(buffer.listed());
}

#[test]
fn a_relist_drops_what_was_deleted_while_disconnected() {
    let mut buffer = WatchBuffer::new(origin());
    let mut store = ConfigStore::default();
    feed(
        &mut buffer,
        &mut store,
        vec![
            Event::Init,
            Event::InitApply(service("a", 80)),
            Event::InitApply(service("b", 80)),
            Event::InitDone,
        ],
    );
    // 410 Gone or a restarted API server: the watcher lists again; `a` went meanwhile.
    feed(
        &mut buffer,
        &mut store,
        vec![
            Event::Init,
            Event::InitApply(service("b", 81)),
            Event::InitDone,
        ],
    );
    assert_eq!(names(&store), ["b"]);
}

#[test]
fn changes_after_the_list_apply_one_by_one_and_invalid_versions_keep_the_last_good() {
    let mut buffer = WatchBuffer::new(origin());
    let mut store = ConfigStore::default();
    feed(
        &mut buffer,
        &mut store,
        vec![
            Event::Init,
            Event::InitApply(service("a", 80)),
            Event::InitDone,
        ],
    );
    feed(
        &mut buffer,
        &mut store,
        vec![Event::Apply(service("b", 80)), Event::Apply(broken("a"))],
    );
    assert_eq!(names(&store), ["a", "b"], "a's last good version stays");
    assert_eq!(store.errors().count(), 1);
    // A relist that still finds `a` invalid keeps its last good version too.
    feed(
        &mut buffer,
        &mut store,
        vec![
            Event::Init,
            Event::InitApply(broken("a")),
            Event::InitApply(service("b", 80)),
            Event::InitDone,
        ],
    );
    assert_eq!(names(&store), ["a", "b"]);
    assert_eq!(store.errors().count(), 1);
    let a = store.in_force(&reference("a")).expect("a");
    assert!(Arc::strong_count(&a.object) >= 1);
    feed(
        &mut buffer,
        &mut store,
        vec![Event::Delete(service("a", 80))],
    );
    assert_eq!(names(&store), ["b"]);
    assert_eq!(
        store.errors().count(),
        0,
        "deleting the invalid object clears its error"
    );
}
