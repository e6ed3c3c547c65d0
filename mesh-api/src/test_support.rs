//! Helpers for the tests of this crate and the crates that build on it: models from
//! YAML, the Bookinfo example, and a deterministic random generator for tests that
//! run random sequences of changes.

use std::sync::Arc;

use crate::manifest::parse_file;
use crate::model::{MeshModel, MeshSettings};
use crate::object::{MeshObject, ObjectRef};

/// The Bookinfo example of `examples/bookinfo`, file by file.
pub const BOOKINFO: [(&str, &str); 4] = [
    (
        "services.yaml",
        include_str!("../../examples/bookinfo/services.yaml"),
    ),
    (
        "workloads.yaml",
        include_str!("../../examples/bookinfo/workloads.yaml"),
    ),
    (
        "routing.yaml",
        include_str!("../../examples/bookinfo/routing.yaml"),
    ),
    (
        "security.yaml",
        include_str!("../../examples/bookinfo/security.yaml"),
    ),
];

/// The objects of `(file name, YAML)` pairs; panics on any error, naming it.
pub fn objects_of(files: &[(&str, &str)]) -> Vec<Arc<MeshObject>> {
    let mut objects = Vec::new();
    for (name, text) in files {
        let parsed = parse_file(name, text);
        assert!(parsed.errors.is_empty(), "{name}: {:?}", parsed.errors);
        objects.extend(parsed.objects.into_iter().map(|p| Arc::new(p.object)));
    }
    objects
}

/// The model of `(file name, YAML)` pairs, with the default settings.
pub fn model_of(files: &[(&str, &str)]) -> MeshModel {
    MeshModel::build(objects_of(files), MeshSettings::default())
}

/// The model of the Bookinfo example.
pub fn bookinfo() -> MeshModel {
    model_of(&BOOKINFO)
}

/// The one object of a YAML document, with its reference.
pub fn object(yaml: &str) -> (ObjectRef, Arc<MeshObject>) {
    let object = objects_of(&[("test.yaml", yaml)])
        .into_iter()
        .next()
        .expect("one object");
    (object.object_ref(), object)
}

/// A small deterministic random generator (xorshift64): the same sequence on every
/// run, so a failing step of a random test is found again.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
