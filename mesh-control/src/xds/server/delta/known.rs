//! What a Delta proxy holds, as far as the server knows: name → version.
//!
//! After every response the proxy holds exactly the resources it wants, so the set
//! is kept as those resources ([`Resources`], whose maps the snapshots of every
//! proxy of a scope share) plus the few names that differ from them. A map of its
//! own per proxy was 10,000 strings at 5,000 services, gigabytes for a thousand
//! proxies.

use std::collections::BTreeMap;

use crate::xds::server::snapshot::Resources;

#[derive(Debug, Default)]
pub(super) struct Known {
    /// What the proxy was last known to hold in full.
    base: Resources,
    /// Names whose version differs from `base`'s: `Some` held at that version,
    /// `None` not held.
    diff: BTreeMap<String, Option<String>>,
}

impl Known {
    /// What a reconnecting proxy says it holds (`initial_resource_versions`).
    pub(super) fn from_versions(versions: impl IntoIterator<Item = (String, String)>) -> Known {
        Known {
            base: Resources::default(),
            diff: versions.into_iter().map(|(n, v)| (n, Some(v))).collect(),
        }
    }

    /// The proxy holds exactly `resources`.
    pub(super) fn exactly(resources: Resources) -> Known {
        Known {
            base: resources,
            diff: BTreeMap::new(),
        }
    }

    /// The version of `name` the proxy holds.
    pub(super) fn version(&self, name: &str) -> Option<&str> {
        match self.diff.get(name) {
            Some(version) => version.as_deref(),
            None => self.base.get(name).map(|r| r.version.as_str()),
        }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.version(name).is_some()
    }

    /// The names the proxy holds, in order.
    pub(super) fn names(&self) -> Vec<&String> {
        let mut names: Vec<&String> = self
            .base
            .keys()
            .filter(|n| !matches!(self.diff.get(*n), Some(None)))
            .chain(
                self.diff
                    .iter()
                    .filter(|(n, v)| v.is_some() && !self.base.contains_key(n))
                    .map(|(n, _)| n),
            )
            .collect();
        names.sort();
        names
    }

    /// Forgets the names `keep` says no to (the proxy unsubscribed from them).
    pub(super) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let gone: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| !keep(n))
            .cloned()
            .collect();
        for name in gone {
            if self.base.contains_key(&name) {
                self.diff.insert(name, None);
            } else {
                self.diff.remove(&name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::xds::server::snapshot::{EncodedResource, ResourceMap};

    fn resources(items: &[(&str, &str)]) -> Resources {
        let map: ResourceMap = items
            .iter()
            .map(|(n, v)| {
                let r = EncodedResource {
                    name: n.to_string(),
                    version: v.to_string(),
                    body: Vec::new(),
                };
                (n.to_string(), Arc::new(r))
            })
            .collect();
        Resources::from(map)
    }

    #[test]
    fn reads_through_to_the_shared_resources_and_forgets_what_is_unsubscribed() {
        let mut known = Known::exactly(resources(&[("a", "1"), ("b", "1")]));
        assert_eq!(known.version("a"), Some("1"));
        assert!(!known.contains("c"));
        known.retain(|n| n != "a");
        assert!(!known.contains("a"));
        assert_eq!(known.names(), ["b"]);
        let reconnected = Known::from_versions([("x".to_string(), "7".to_string())]);
        assert_eq!(reconnected.version("x"), Some("7"));
        assert_eq!(reconnected.names(), ["x"]);
    }
}
