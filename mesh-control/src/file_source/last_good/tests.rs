//! The last-good rule, through the store as the file source uses it.

use mesh_api::manifest::parse_file;
use mesh_api::object::MeshObject;

use super::*;
use crate::config::ConfigStore;

const A_GOOD: &str =
    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}]}\n";
const A_BAD: &str =
    "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: eighty}]}\n";
const B_GOOD: &str =
    "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 81}]}\n";

fn update(store: &mut ConfigStore, file: &str, text: &str) -> FileUpdate {
    let origin = Origin::File(file.to_string());
    let previous = store.objects_of(&origin).cloned().collect();
    let (event, update) = file_reset(origin, previous, parse_file(file, text));
    store.apply(vec![event]);
    update
}

fn remove(store: &mut ConfigStore, file: &str) {
    store.apply(vec![ConfigEvent::Reset {
        origin: Origin::File(file.to_string()),
        objects: Vec::new(),
        errors: Vec::new(),
    }]);
}

fn names(store: &ConfigStore) -> Vec<String> {
    store
        .objects()
        .iter()
        .map(|o| o.object_ref().name)
        .collect()
}

fn port_of_a(store: &ConfigStore) -> Option<i32> {
    store.objects().iter().find_map(|o| match o.as_ref() {
        MeshObject::Service(s) if s.metadata.name.as_deref() == Some("a") => {
            Some(s.spec.as_ref()?.ports.as_ref()?.first()?.port)
        }
        _ => None,
    })
}

#[test]
fn bad_new_version_keeps_the_last_good_object() {
    let mut store = ConfigStore::default();
    update(&mut store, "f.yaml", &format!("{A_GOOD}---\n{B_GOOD}"));
    let result = update(&mut store, "f.yaml", &format!("{A_BAD}---\n{B_GOOD}"));
    assert_eq!(result.errors.len(), 1);
    assert_eq!(result.kept.len(), 1);
    assert_eq!(names(&store), ["a", "b"]);
    assert_eq!(port_of_a(&store), Some(80));
    assert_eq!(store.errors().count(), 1);
    // Fixing the document clears the error and applies the new version.
    update(&mut store, "f.yaml", &A_GOOD.replace("80", "8080"));
    assert_eq!(port_of_a(&store), Some(8080));
    assert_eq!(
        names(&store),
        ["a"],
        "b was removed from the file on purpose"
    );
    assert_eq!(store.errors().count(), 0);
}

#[test]
fn unreadable_yaml_keeps_every_object_of_the_file() {
    let mut store = ConfigStore::default();
    update(&mut store, "f.yaml", &format!("{A_GOOD}---\n{B_GOOD}"));
    let result = update(
        &mut store,
        "f.yaml",
        &format!("{A_GOOD}---\nkind: [broken\n"),
    );
    assert_eq!(result.kept.len(), 1);
    assert_eq!(names(&store), ["a", "b"]);
}

#[test]
fn a_bad_object_never_seen_good_is_simply_absent() {
    let mut store = ConfigStore::default();
    let result = update(&mut store, "f.yaml", A_BAD);
    assert_eq!(result.errors.len(), 1);
    assert!(names(&store).is_empty());
}

#[test]
fn duplicates_across_files_keep_the_first_file() {
    let mut store = ConfigStore::default();
    update(&mut store, "b.yaml", &A_GOOD.replace("80", "9999"));
    update(&mut store, "a.yaml", A_GOOD);
    assert_eq!(store.objects().len(), 1);
    assert_eq!(port_of_a(&store), Some(80));
    let duplicates = store.duplicates();
    assert_eq!(duplicates.len(), 1);
    assert_eq!(duplicates[0].duplicate.file, "b.yaml");
    remove(&mut store, "a.yaml");
    assert_eq!(port_of_a(&store), Some(9999));
    assert!(store.duplicates().is_empty());
}
