//! Where a route sends traffic: a destination service (and subset and port), its
//! weight, and the headers changed on the way.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::constraints::required;

/// A service (and optionally a subset and a port) that traffic is sent to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// The service's name in the registry: a Kubernetes service short name or FQDN, or a
    /// ServiceEntry host. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub host: Option<String>,
    /// A subset of the service, as named in a DestinationRule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subset: Option<String>,
    /// The service port; may be omitted when the service has exactly one port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<PortSelector>,
}

/// A port on a destination service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSelector {
    /// The port number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
}

/// An HTTP route's destination, with its share of the traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpRouteDestination {
    /// Where requests go. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub destination: Option<Destination>,
    /// Relative share of the traffic (`weight / sum of weights`); a lone destination takes
    /// all traffic, otherwise an unset weight is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Header changes for requests and responses sent to this destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
}

/// A TLS or TCP route's destination, with its share of the connections.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteDestination {
    /// Where connections go. Required.
    #[serde(deserialize_with = "required", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub destination: Option<Destination>,
    /// Relative share of the connections; a lone destination takes all, otherwise an unset
    /// weight is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// Header changes for requests and for responses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Headers {
    /// Changes to the request before it is forwarded to the destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<HeaderOperations>,
    /// Changes to the response before it is returned to the caller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HeaderOperations>,
}

/// Set, append or remove headers; applied in the order set, add, remove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeaderOperations {
    /// Headers to overwrite with the given values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: BTreeMap<String, String>,
    /// Headers to append the given values to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Headers to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// A percentage, 0.0 to 100.0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Percent {
    /// The percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// Each destination's effective weight, by Istio's rule: a lone destination takes all
/// traffic (100), otherwise an unset or negative weight is 0.
pub(crate) fn effective_weights(weights: impl ExactSizeIterator<Item = Option<i32>>) -> Vec<u32> {
    if weights.len() == 1 {
        return vec![100];
    }
    weights
        .map(|w| w.map_or(0, |w| u32::try_from(w).unwrap_or(0)))
        .collect()
}

impl Percent {
    /// The percentage, 0 when unset.
    pub fn value_or_zero(&self) -> f64 {
        self.value.unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_destination_takes_all_traffic_and_unset_weights_are_zero() {
        assert_eq!(effective_weights([None].into_iter()), vec![100]);
        assert_eq!(effective_weights([Some(0)].into_iter()), vec![100]);
        assert_eq!(
            effective_weights([Some(80), None, Some(-1)].into_iter()),
            vec![80, 0, 0]
        );
    }

    #[test]
    fn destination_requires_host() {
        let err = serde_norway::from_str::<Destination>("subset: v1").unwrap_err();
        assert!(err.to_string().contains("missing field `host`"), "{err}");
    }
}
