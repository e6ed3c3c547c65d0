//! What an update of the model changed, in the terms the control plane pushes by:
//! which services' endpoints (incremental EDS), which workloads (their proxies'
//! inbound side), which namespaces' view of routing, or everything.

use std::collections::BTreeSet;

use crate::object::ObjectRef;

/// What changed between two versions of the model. Merging the deltas of several
/// updates gives the delta across all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelDelta {
    /// Anything may have changed (a Service, ServiceEntry, Gateway or security
    /// policy): every proxy's config is re-translated.
    pub full: bool,
    /// Services whose endpoints changed, and nothing else about them.
    pub endpoints: BTreeSet<String>,
    /// Workloads added, removed or changed: the inbound side of their proxies.
    pub workloads: BTreeSet<ObjectRef>,
    /// Where changed routing objects (VirtualServices, DestinationRules, Sidecars)
    /// are seen: only the outbound config of proxies there is re-translated.
    pub routing: Option<Reach>,
}

/// Which proxies can see a routing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Proxies of every namespace.
    All,
    /// Proxies of these namespaces.
    Namespaces(BTreeSet<String>),
}

impl ModelDelta {
    /// A change of anything.
    pub fn full() -> ModelDelta {
        ModelDelta {
            full: true,
            ..ModelDelta::default()
        }
    }

    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        !self.full
            && self.endpoints.is_empty()
            && self.workloads.is_empty()
            && self.routing.is_none()
    }

    /// Adds what `other` changed.
    pub fn merge(&mut self, other: &ModelDelta) {
        self.full |= other.full;
        self.endpoints.extend(other.endpoints.iter().cloned());
        self.workloads.extend(other.workloads.iter().cloned());
        if let Some(reach) = &other.routing {
            self.add_reach(reach.clone());
        }
    }

    pub(crate) fn add_reach(&mut self, reach: Reach) {
        self.routing = Some(match (self.routing.take(), reach) {
            (None, reach) => reach,
            (Some(Reach::All), _) | (_, Reach::All) => Reach::All,
            (Some(Reach::Namespaces(mut a)), Reach::Namespaces(b)) => {
                a.extend(b);
                Reach::Namespaces(a)
            }
        });
    }

    /// Whether the outbound config of a proxy in `namespace` may have changed beyond
    /// the endpoints of [`ModelDelta::endpoints`].
    pub fn reaches_outbound(&self, namespace: &str) -> bool {
        self.full
            || match &self.routing {
                None => false,
                Some(Reach::All) => true,
                Some(Reach::Namespaces(namespaces)) => namespaces.contains(namespace),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(namespaces: &[&str]) -> Reach {
        Reach::Namespaces(namespaces.iter().map(|n| n.to_string()).collect())
    }

    #[test]
    fn merging_unites_what_changed_and_all_wins() {
        let mut delta = ModelDelta {
            routing: Some(reach(&["a"])),
            ..ModelDelta::default()
        };
        assert!(delta.reaches_outbound("a") && !delta.reaches_outbound("b"));
        delta.merge(&ModelDelta {
            routing: Some(reach(&["b"])),
            endpoints: ["x".to_string()].into(),
            ..ModelDelta::default()
        });
        assert_eq!(delta.routing, Some(reach(&["a", "b"])));
        assert!(delta.reaches_outbound("b") && !delta.reaches_outbound("c"));
        delta.merge(&ModelDelta {
            routing: Some(Reach::All),
            ..ModelDelta::default()
        });
        assert!(delta.reaches_outbound("c"));
        assert!(!delta.full);
        delta.merge(&ModelDelta::full());
        assert!(delta.full && !delta.is_empty());
        assert!(ModelDelta::default().is_empty());
    }
}
