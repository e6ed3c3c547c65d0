//! Canonical bytes for resources with protobuf map fields. prost keeps maps in
//! `HashMap`s, which encode their entries in a different order from one map to the
//! next: two equal values would otherwise get two versions, and every push would
//! resend them. The canonical bytes are the encoding with the maps emptied, followed
//! by every map's entries sorted by key; they are only hashed, never sent.
//!
//! Map fields the translator sets: `Cluster.typed_extension_protocol_options` and
//! `Route.typed_per_filter_config` (also covered: those of `RouteConfiguration` and
//! `VirtualHost`). A map of at most one entry encodes in one order only and needs
//! nothing.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

/// `None` when the encoding is already canonical.
pub(super) fn cluster(c: &Cluster) -> Option<Vec<u8>> {
    if c.typed_extension_protocol_options.len() < 2 {
        return None;
    }
    let mut c = c.clone();
    let maps = [std::mem::take(&mut c.typed_extension_protocol_options)];
    Some(with_sorted_maps(c.encode_to_vec(), &maps))
}

/// `None` when the encoding is already canonical.
pub(super) fn route_configuration(r: &RouteConfiguration) -> Option<Vec<u8>> {
    let unordered = r.typed_per_filter_config.len() > 1
        || r.virtual_hosts.iter().any(|vh| {
            vh.typed_per_filter_config.len() > 1
                || vh
                    .routes
                    .iter()
                    .any(|rt| rt.typed_per_filter_config.len() > 1)
        });
    if !unordered {
        return None;
    }
    let mut r = r.clone();
    let mut maps = vec![std::mem::take(&mut r.typed_per_filter_config)];
    for vh in &mut r.virtual_hosts {
        maps.push(std::mem::take(&mut vh.typed_per_filter_config));
        for route in &mut vh.routes {
            maps.push(std::mem::take(&mut route.typed_per_filter_config));
        }
    }
    Some(with_sorted_maps(r.encode_to_vec(), &maps))
}

/// `body`, then each map (in a fixed order) as its length and its entries sorted.
fn with_sorted_maps(mut body: Vec<u8>, maps: &[HashMap<String, Any>]) -> Vec<u8> {
    for map in maps {
        let mut entries: Vec<(&String, &Any)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        body.extend_from_slice(&(entries.len() as u64).to_le_bytes());
        for (key, value) in entries {
            // Length-prefixed, so that no two different maps give the same bytes.
            let value = value.encode_to_vec();
            body.extend_from_slice(&(key.len() as u64).to_le_bytes());
            body.extend_from_slice(key.as_bytes());
            body.extend_from_slice(&(value.len() as u64).to_le_bytes());
            body.extend_from_slice(&value);
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::route::v3::{Route, VirtualHost};

    use super::*;

    fn any(type_url: &str) -> Any {
        Any {
            type_url: type_url.to_string(),
            value: vec![1, 2, 3],
        }
    }

    fn route_config(keys: &[&str]) -> RouteConfiguration {
        let mut route = Route::default();
        for key in keys {
            route
                .typed_per_filter_config
                .insert(key.to_string(), any(key));
        }
        RouteConfiguration {
            name: "80".into(),
            virtual_hosts: vec![VirtualHost {
                routes: vec![route],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn equal_maps_give_equal_bytes_whatever_their_order() {
        let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
        let first = route_configuration(&route_config(&keys));
        assert!(first.is_some());
        // Each HashMap has its own random state: many rebuilds cover many orders.
        for _ in 0..20 {
            let mut reversed = keys;
            reversed.reverse();
            assert_eq!(route_configuration(&route_config(&reversed)), first);
        }
        assert_ne!(route_configuration(&route_config(&keys[..7])), first);
        assert_eq!(route_configuration(&route_config(&["a"])), None);
    }
}
