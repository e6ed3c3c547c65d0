//! A connection manager's `http_filters`, in order → [`HttpFilter`]s. The request
//! runs through them in this order and the response back through them in reverse
//! (`crate::proxy::http_filters`); the router is the last, as Envoy requires.

use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter as HttpFilterProto, http_filter,
};
use serde::Serialize;

use super::error::FieldError;
use crate::route::{Fault, build_fault};

const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const FAULT: &str = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const CORS: &str = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors";

/// One HTTP filter of a connection manager.
#[derive(Debug, Clone, PartialEq)]
pub enum HttpFilter {
    /// `envoy.filters.http.fault`: a route's faults, else the filter's own (`None`
    /// when it has none, as in Istio's chains).
    Fault(Option<Fault>),
    /// `envoy.filters.http.cors`: a route's CORS policy.
    Cors,
    /// `envoy.filters.http.router`: sends the request on (or answers a redirect or a
    /// direct response).
    Router,
}

impl HttpFilter {
    /// Envoy's name for the filter, as `/config_dump` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            HttpFilter::Fault(_) => "envoy.filters.http.fault",
            HttpFilter::Cors => "envoy.filters.http.cors",
            HttpFilter::Router => "envoy.filters.http.router",
        }
    }
}

impl Serialize for HttpFilter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Converts the filters in order. An unknown filter is refused unless it is marked
/// `is_optional` (Envoy then runs without it); the last must be the router.
pub(super) fn build_http_filters(
    filters: &[HttpFilterProto],
) -> Result<Vec<HttpFilter>, FieldError> {
    let mut out = Vec::with_capacity(filters.len());
    for f in filters {
        let at = |e: FieldError| e.at(format!("http filter {:?}", f.name));
        if f.disabled {
            return Err(at(
                "disabled filters (enabled per route) are not supported yet".into(),
            ));
        }
        let Some(http_filter::ConfigType::TypedConfig(any)) = &f.config_type else {
            return Err(at("typed_config missing".into()));
        };
        let filter = match any.type_url.as_str() {
            ROUTER => HttpFilter::Router,
            CORS => HttpFilter::Cors,
            FAULT => {
                let fault = build_fault(any).map_err(|e| at(e.into()))?;
                HttpFilter::Fault(Some(fault).filter(|f| f.delay.is_some() || f.abort.is_some()))
            }
            _ if f.is_optional => continue,
            other => return Err(at(format!("type {other:?} is not supported").into())),
        };
        out.push(filter);
    }
    match out.iter().position(|f| *f == HttpFilter::Router) {
        Some(i) if i + 1 == out.len() => Ok(out),
        _ => Err("http_filters: the last filter must be envoy.filters.http.router".into()),
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
        FaultDelay, fault_delay::FaultDelaySecifier,
    };
    use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
    use envoy_types::pb::google::protobuf::{Any, Duration};
    use prost::Message;

    use super::*;

    fn filter(name: &str, type_url: &str, value: Vec<u8>) -> HttpFilterProto {
        HttpFilterProto {
            name: name.into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(Any {
                type_url: type_url.into(),
                value,
            })),
            ..Default::default()
        }
    }

    fn istio_chain() -> Vec<HttpFilterProto> {
        vec![
            filter("envoy.filters.http.fault", FAULT, Vec::new()),
            filter("envoy.filters.http.cors", CORS, Vec::new()),
            filter("envoy.filters.http.router", ROUTER, Vec::new()),
        ]
    }

    #[test]
    fn istios_chain_runs_fault_then_cors_then_the_router() {
        assert_eq!(
            build_http_filters(&istio_chain()),
            Ok(vec![
                HttpFilter::Fault(None),
                HttpFilter::Cors,
                HttpFilter::Router
            ])
        );
    }

    #[test]
    fn a_fault_filters_own_config_is_kept_for_routes_without_one() {
        let fault = HttpFault {
            delay: Some(FaultDelay {
                fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(Duration {
                    seconds: 1,
                    nanos: 0,
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut chain = istio_chain();
        chain[0] = filter("envoy.filters.http.fault", FAULT, fault.encode_to_vec());
        let built = build_http_filters(&chain).expect("valid");
        let HttpFilter::Fault(Some(f)) = &built[0] else {
            panic!("{built:?}");
        };
        assert_eq!(
            f.delay.map(|(d, _)| d),
            Some(std::time::Duration::from_secs(1))
        );
    }

    #[test]
    fn unknown_filters_are_refused_unless_optional_and_the_router_must_be_last() {
        let mut chain = istio_chain();
        chain.insert(
            0,
            filter(
                "istio.stats",
                "type.googleapis.com/stats.PluginConfig",
                vec![],
            ),
        );
        let err = build_http_filters(&chain).expect_err("not implemented");
        assert!(
            err.contains("istio.stats") && err.contains("not supported"),
            "{err}"
        );
        chain[0].is_optional = true;
        assert_eq!(build_http_filters(&chain).map(|f| f.len()), Ok(3));
        let mut misplaced = istio_chain();
        misplaced.swap(1, 2);
        let err = build_http_filters(&misplaced).expect_err("router not last");
        assert!(
            err.contains("last filter must be envoy.filters.http.router"),
            "{err}"
        );
    }
}
