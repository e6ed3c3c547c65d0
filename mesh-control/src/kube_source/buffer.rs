//! One watch's events to config events: the objects of a (re)list are buffered and
//! handed over as one reset of the watch's origin when the list is complete, so that
//! the model never holds half a list; later changes are applied one by one.
//!
//! Pure: no client, no channel. A relist after `410 Gone`, a restarted API server or
//! a dropped connection is one more `Init … InitDone`, and the reset it makes drops
//! whatever was deleted meanwhile.

use kube::runtime::watcher::Event;
use mesh_api::manifest::ManifestError;
use mesh_api::object::ObjectRef;

use super::convert::Converted;
use crate::config::{ConfigEvent, Origin, StoredObject};

/// The state of one watch.
#[derive(Debug)]
pub(crate) struct WatchBuffer {
    origin: Origin,
    listing: Option<Listing>,
    listed: bool,
}

#[derive(Debug, Default)]
struct Listing {
    objects: Vec<StoredObject>,
    /// Invalid objects: their last good version, if any, is kept.
    invalid: Vec<(ObjectRef, ManifestError)>,
}

impl WatchBuffer {
    pub(crate) fn new(origin: Origin) -> WatchBuffer {
        WatchBuffer {
            origin,
            listing: None,
            listed: false,
        }
    }

    /// Whether a first complete list has been handed over.
    pub(crate) fn listed(&self) -> bool {
        self.listed
    }

    /// The config events one watch event makes. `last_good` finds the version of an
    /// object this origin holds now (kept when a relist brings an invalid version).
    pub(crate) fn on_event(
        &mut self,
        event: Event<Converted>,
        last_good: impl Fn(&ObjectRef) -> Option<StoredObject>,
    ) -> Vec<ConfigEvent> {
        let origin = self.origin.clone();
        match event {
            Event::Init => {
                self.listing = Some(Listing::default());
                Vec::new()
            }
            Event::InitApply(converted) => {
                let listing = self.listing.get_or_insert_with(Listing::default);
                match converted.outcome {
                    Ok(object) => listing.objects.push(object),
                    Err(error) => listing.invalid.push((converted.object_ref, error)),
                }
                Vec::new()
            }
            Event::InitDone => {
                let Listing {
                    mut objects,
                    invalid,
                } = self.listing.take().unwrap_or_default();
                objects.extend(invalid.iter().filter_map(|(r, _)| last_good(r)));
                self.listed = true;
                // Invalid objects are reported by object, so that deleting one clears it.
                let reported =
                    invalid
                        .into_iter()
                        .map(|(object_ref, error)| ConfigEvent::Invalid {
                            origin: origin.clone(),
                            object_ref,
                            error,
                        });
                std::iter::once(ConfigEvent::Reset {
                    origin: origin.clone(),
                    objects,
                    errors: Vec::new(),
                })
                .chain(reported)
                .collect()
            }
            Event::Apply(converted) => match converted.outcome {
                Ok(object) => vec![ConfigEvent::Apply { origin, object }],
                Err(error) => vec![ConfigEvent::Invalid {
                    origin,
                    object_ref: converted.object_ref,
                    error,
                }],
            },
            Event::Delete(converted) => vec![ConfigEvent::Delete {
                origin,
                object_ref: converted.object_ref,
            }],
        }
    }
}

#[cfg(test)]
mod tests;
