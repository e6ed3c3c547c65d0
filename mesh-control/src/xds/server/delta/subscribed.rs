//! The names a Delta proxy subscribed to, by name.
//!
//! Envoy subscribes to the endpoints of every cluster, a name per cluster of the
//! mesh: usually exactly the names of the resources there are. Then the set is kept
//! as those resources ([`Resources`], shared with the snapshots) plus the names
//! added to it or dropped from it since, rather than as strings of its own per proxy.

use std::collections::BTreeSet;

use crate::xds::server::snapshot::Resources;

#[derive(Debug, Default)]
pub(super) struct SubscribedNames {
    /// Resources whose names are subscribed (but `dropped`).
    base: Resources,
    /// Subscribed names `base` does not have.
    extra: BTreeSet<String>,
    /// Names of `base` not subscribed.
    dropped: BTreeSet<String>,
}

impl SubscribedNames {
    /// Subscribes to `name`; true if it was not subscribed.
    pub(super) fn insert(&mut self, name: &str) -> bool {
        if self.base.contains_key(name) {
            self.dropped.remove(name)
        } else {
            self.extra.insert(name.to_string())
        }
    }

    /// Unsubscribes from `name`.
    pub(super) fn remove(&mut self, name: &str) {
        if self.base.contains_key(name) {
            self.dropped.insert(name.to_string());
        } else {
            self.extra.remove(name);
        }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        if self.base.contains_key(name) {
            !self.dropped.contains(name)
        } else {
            self.extra.contains(name)
        }
    }

    pub(super) fn len(&self) -> usize {
        self.base.len() - self.dropped.len() + self.extra.len()
    }

    /// Keeps the set as the names of `all`, which the caller has found to be
    /// exactly the subscribed names.
    pub(super) fn rebase(&mut self, all: Resources) {
        self.base = all;
        self.extra.clear();
        self.dropped.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::xds::server::snapshot::{EncodedResource, ResourceMap};

    fn resources(names: &[&str]) -> Resources {
        let map: ResourceMap = names
            .iter()
            .map(|n| {
                let r = EncodedResource {
                    name: n.to_string(),
                    version: "1".into(),
                    body: Vec::new(),
                };
                (n.to_string(), Arc::new(r))
            })
            .collect();
        Resources::from(map)
    }

    #[test]
    fn names_added_and_dropped_around_shared_resources() {
        let mut names = SubscribedNames::default();
        assert!(names.insert("a") && names.insert("b") && !names.insert("a"));
        assert_eq!(names.len(), 2);
        names.rebase(resources(&["a", "b"]));
        assert!(names.contains("a") && names.contains("b") && !names.contains("c"));
        names.remove("a");
        assert!(!names.contains("a"));
        assert_eq!(names.len(), 1);
        assert!(names.insert("a"), "subscribed again");
        assert!(names.insert("c"));
        assert_eq!(names.len(), 3);
        names.remove("c");
        assert!(!names.contains("c"));
        assert_eq!(names.len(), 2);
    }
}
