//! The store's events and the changes in force they report.

use mesh_api::manifest::{Location, parse_file};
use mesh_api::object::Kind;

use crate::config::KubeWatch;

use super::*;

fn stored(file: &str, yaml: &str) -> StoredObject {
    let parsed = parse_file(file, yaml);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let p = parsed.objects.into_iter().next().expect("one object");
    StoredObject {
        object: Arc::new(p.object),
        location: p.location,
    }
}

fn service(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: shop}}\nspec: {{ports: [{{port: {port}}}]}}\n"
    )
}

fn web() -> ObjectRef {
    ObjectRef {
        kind: Kind::Service,
        namespace: "shop".into(),
        name: "web".into(),
    }
}

fn file(name: &str) -> Origin {
    Origin::File(name.into())
}

#[test]
fn apply_delete_and_reset_report_the_changes_in_force() {
    let mut store = ConfigStore::default();
    let changes = store.apply(vec![ConfigEvent::Apply {
        origin: file("a.yaml"),
        object: stored("a.yaml", &service(80)),
    }]);
    assert_eq!(changes.len(), 1);
    assert!(changes[0].object.is_some());
    // The same content again, freshly parsed, is no change.
    let again = store.apply(vec![ConfigEvent::Reset {
        origin: file("a.yaml"),
        objects: vec![stored("a.yaml", &service(80))],
        errors: Vec::new(),
    }]);
    assert!(again.is_empty(), "{again:?}");
    // A second origin holding it is a duplicate, not a change: the first is in force.
    let shadowed = store.apply(vec![ConfigEvent::Apply {
        origin: file("b.yaml"),
        object: stored("b.yaml", &service(81)),
    }]);
    assert!(shadowed.is_empty());
    assert_eq!(store.duplicates().len(), 1);
    // Deleting the first brings the second's version into force.
    let changes = store.apply(vec![ConfigEvent::Delete {
        origin: file("a.yaml"),
        object_ref: web(),
    }]);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        store.in_force(&web()).map(|o| o.location.file.as_str()),
        Some("b.yaml")
    );
    assert!(store.duplicates().is_empty());
    // An empty reset removes the origin and its object.
    let changes = store.apply(vec![ConfigEvent::Reset {
        origin: file("b.yaml"),
        objects: Vec::new(),
        errors: Vec::new(),
    }]);
    assert_eq!(changes.len(), 1);
    assert!(changes[0].object.is_none());
    assert!(store.objects().is_empty());
}

#[test]
fn a_batch_reports_each_object_once_against_where_it_started() {
    let mut store = ConfigStore::default();
    store.apply(vec![ConfigEvent::Apply {
        origin: file("a.yaml"),
        object: stored("a.yaml", &service(80)),
    }]);
    // Changed and changed back within one batch: nothing to report.
    let changes = store.apply(vec![
        ConfigEvent::Apply {
            origin: file("a.yaml"),
            object: stored("a.yaml", &service(90)),
        },
        ConfigEvent::Apply {
            origin: file("a.yaml"),
            object: stored("a.yaml", &service(80)),
        },
    ]);
    assert!(changes.is_empty(), "{changes:?}");
    let errors = vec![ManifestError {
        location: Location {
            file: "a.yaml".into(),
            document: 2,
            line: 5,
        },
        object: None,
        field: None,
        message: "bad".into(),
    }];
    store.apply(vec![ConfigEvent::Reset {
        origin: file("a.yaml"),
        objects: vec![stored("a.yaml", &service(80))],
        errors,
    }]);
    assert_eq!(store.errors().count(), 1);
}

#[test]
fn an_invalid_new_version_keeps_the_last_good_one_in_force_and_is_reported() {
    let mut store = ConfigStore::default();
    let origin = Origin::Kubernetes(KubeWatch {
        resource: "services".into(),
        namespace: None,
    });
    store.apply(vec![ConfigEvent::Apply {
        origin: origin.clone(),
        object: stored("api", &service(80)),
    }]);
    let error = ManifestError {
        location: Location {
            file: "api".into(),
            document: 0,
            line: 0,
        },
        object: Some(web()),
        field: Some("spec.ports[0].port".into()),
        message: "invalid".into(),
    };
    let changes = store.apply(vec![ConfigEvent::Invalid {
        origin: origin.clone(),
        object_ref: web(),
        error: error.clone(),
    }]);
    assert!(
        changes.is_empty(),
        "the last good version stays: {changes:?}"
    );
    assert!(store.in_force(&web()).is_some());
    assert_eq!(store.errors().cloned().collect::<Vec<_>>(), vec![error]);
    // A good version clears the error and comes into force.
    let changes = store.apply(vec![ConfigEvent::Apply {
        origin: origin.clone(),
        object: stored("api", &service(81)),
    }]);
    assert_eq!(changes.len(), 1);
    assert_eq!(store.errors().count(), 0);
    // An object that was never good is reported, and its deletion clears that.
    store.apply(vec![
        ConfigEvent::Delete {
            origin: origin.clone(),
            object_ref: web(),
        },
        ConfigEvent::Invalid {
            origin: origin.clone(),
            object_ref: web(),
            error: ManifestError {
                object: Some(web()),
                ..error_at_api()
            },
        },
    ]);
    assert!(store.in_force(&web()).is_none());
    assert_eq!(store.errors().count(), 1);
    store.apply(vec![ConfigEvent::Delete {
        origin: origin.clone(),
        object_ref: web(),
    }]);
    assert_eq!(store.errors().count(), 0);
    assert!(!store.has(&origin), "an origin with nothing left is gone");
}

fn error_at_api() -> ManifestError {
    ManifestError {
        location: Location {
            file: "api".into(),
            document: 0,
            line: 0,
        },
        object: None,
        field: None,
        message: "invalid".into(),
    }
}
